"""Generative quality: how good G's samples are, and whether it copies its training set.

- ``metrics``: the registry of generative metrics (IS, FID, KID, precision/recall: what each
  is called, its torch-fidelity switch, its noise band for `dcgan compare`);
- ``inception_weights``: the Inception-v3 weights every metric rests on (checked against the
  standard file's SHA-256, loaded with ``weights_only=True``) and the check of torch-fidelity's
  cache before it unpickles anything;
- ``fidelity``: G's samples and a dataset's images through torch-fidelity, the rows;
- ``memorisation``: each sample's nearest training images, in pixels and in D's features.

May import the package's lower layers (data, nets, checkpoint, features, cache, results,
runtime, errors, registry); ``metrics`` imports none of them, so the compare and the CLI's
options read it cheaply.
"""
