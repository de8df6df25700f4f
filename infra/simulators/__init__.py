"""External partners simulated for running the system on one machine: a 3PL warehouse and carriers.

They are not Unitrail services. Like any third party they see only the public contracts
(`contracts/`) on Kafka: no service code, no database. `python -m infra.simulators` runs them;
`scripts/run` starts that process with the services unless `UNITRAIL_SIMULATORS=off`.
"""
