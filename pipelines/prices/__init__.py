"""Prices: fair market value from sales, simulation for benchmarks, the revaluation job."""
