"""Studies and measurements of the painting methods: the fast-vs-Gatys comparison, the study over portraits x
paintings x sizes, and the same-VGG verdict on a painting's own Johnson network. The benchmarks, ``scripts/`` and
the CLI's ``compare`` and ``study`` commands use it; the server does not import it, so ``style_server.engine``
holds only what the server paints with."""
