"""vae_teach: the machinery behind the notebook course on Variational Autoencoders.

Modules, each named after the idea it holds (and the notebooks that teach it):

* ``data``            the bundled MNIST digits (package data), binarization   (01, 06, 07, 09, 10)
* ``distributions``   categorical, Bernoulli, Gaussian log-probs and KL        (04, 06, 07)
* ``models``          ``BernoulliVAE`` and ``SourceTextVAE`` (the source text's bug, kept) (06, 07)
* ``objectives``      ELBO, distortion, rate, IWAE bound                       (07, 10)
* ``train``           ``fit`` (a plain training loop) and ``cached_fit``        (07 onwards)
* ``cache``           the model cache, shareable by a class (``python -m vae_teach.cache``)
* ``estimators``      score-function and pathwise gradient estimators          (07)
* ``latent``          looking inside a trained latent space                    (07)
* ``information``     ELBO surgery, mutual information, one batched encoder    (09, 10)
* ``linear_gaussian`` an exact latent-variable model (probabilistic PCA)       (07)
* ``regression``      a line fitted three ways, the two directions of KL       (08)
* ``probmodels``      maximum likelihood as minimum KL                         (03)
* ``bayesnet``        a small Bayesian network over binary variables           (05)
* ``toy2d``           a GAN and a VAE on a ring of Gaussians                   (02)
* ``classifiers``     naive Bayes, logistic regression, SVMs, VAE features     (01, 09)
* ``plots``           one style, image grids, curves, latent scatter           (all)
* ``widgets``         interactive explorers                                    (00, 04-07, 10)
* ``exercises``       the exercise checkers, one module per chapter idea       (all)
* ``environment``     notebook 00's environment check                          (00)
* ``utils``           seeding and input checks                                 (all)

The course's tooling (notebook runner, benchmark, reading and classroom editions, the nbval
figure check) is not in this package: it is ``vae_teach_tools`` (``tools/``), run from a checkout.
"""
from .utils import seed_everything, setup

__version__ = "0.1.0"
__all__ = ["seed_everything", "setup", "__version__"]
