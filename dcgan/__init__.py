"""dcgan-bench: a benchmark harness for unsupervised representation learning with DCGANs.

Importing the package runs nothing; see ``dcgan.cli`` for the ``dcgan`` command.
"""

__version__ = "0.1.0"
