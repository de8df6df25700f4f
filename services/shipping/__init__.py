"""The shipping service: carrier choice, labels, insurance, signatures, and tracking to
Delivered / Exception.
"""
