"""Test suites that every implementation of an extension point runs (in the manner of Optuna's sampler tests):
subclass one in a test module and supply the fixture it names."""
