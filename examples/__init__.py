"""Example model spaces: user networks with LayerChoice / InputChoice (``--model examples.nni_mnist:Net``)."""
