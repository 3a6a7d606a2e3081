"""The linear probe (Tables 1 and 2): a feature extractor's features of a protocol's splits,
an L2-SVM fitted under the paper's protocol, and the rows the tables show.

- ``prepare``: the protocol's features in memory, standardised where the recipe says;
- ``fit_cache``: every finished fit kept on disk, so an interrupted probe resumes;
- ``probe``: the protocol itself (C chosen over a growing grid, the test draws; ``run``), and
  one declared draw (``single_draw``, the probe curve's);
- ``controls``: the measured row beside its random-init control and the paper's rows;
- ``solvers_compared``: our solver against scikit-learn's on the same draws;
- ``rows``: the row schema, rows written, the terminal table;
- ``command``: `dcgan probe`'s work.

Each module imports only those above it in this list (and the package's lower layers); nothing
outside imports a private name from here.
"""
