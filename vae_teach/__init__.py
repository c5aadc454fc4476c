"""vae_teach: the machinery behind the notebook course on Variational Autoencoders.

Modules, each named after the idea it holds (and the notebooks that teach it):

* ``data``          bundled MNIST, binarization                       (01, 06, 07, 09, 10)
* ``distributions`` categorical, Bernoulli, Gaussian log-probs and KL (04, 06, 07)
* ``models``        ``BernoulliVAE`` and the seed's buggy version     (06, 07)
* ``objectives``    ELBO, distortion, rate, IWAE bound                (07, 10)
* ``train``         ``fit`` and ``cached_fit``                        (07 onwards)
* ``plots``         one style, image grids, curves, latent scatter    (all)
* ``widgets``       interactive explorers                             (04-07, 10)
* ``utils``         seeding and input checks                          (all)
"""
from .utils import seed_everything, setup

__version__ = "0.1.0"
__all__ = ["seed_everything", "setup", "__version__"]
