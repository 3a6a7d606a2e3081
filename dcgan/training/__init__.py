"""Training a DCGAN: ``config`` (what a run is asked to do, checked; the data order; the stop that
says what was kept), ``identity`` (what a resumed run must match), ``health`` (the checks that
stop an unhealthy run), ``run_folder`` (the folder's files besides checkpoints: its check, the
log, each start's record) and ``loop`` (the Trainer: the paper's alternating updates, via
dcgan/step.py, inside checkpoints, resume, samples and logs; ``train``).

Each module imports only those before it in this list and the package's lower layers (data,
nets, step, checkpoint, distributed, events, runtime); only the CLI imports ``loop`` in dcgan/
(bench/ runs training cells through it too).
"""
