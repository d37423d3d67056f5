"""Test tooling, kept out of the product's modules: a Boltz cache of random weights
(`testcache`) and synthetic screens in the workflow's real formats (`synthetic`).

It ships with the package because `omtx-hub demo --weights test`, `omtx-hub make-test-cache`
and the benchmarks run from an installed package and build the test cache; no module that
plans, predicts, aggregates or reports imports it.
"""
