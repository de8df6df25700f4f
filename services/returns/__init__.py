"""The returns service: RMAs, serial checks against what was shipped, inspection grades,
dispositions and refunds.
"""
