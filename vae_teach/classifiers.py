"""Classifiers next to generative models: notebooks 01 (generative vs discriminative) and 09
(VAEs and support vector machines).

Notebook 01
    ``BernoulliNaiveBayes``   a generative classifier: p(c) prod_j Bernoulli(x_j; theta_cj), fitted
                              by counting with a Beta prior, turned into p(c|x) by Bayes' rule in
                              log space.
    ``beta_prior_from_unlabelled``  a Beta prior centred on the pixel frequencies of unlabelled images.
    ``balanced_subset``       n labelled examples, the same number per class.
    ``naive_bayes_fitter``, ``logistic_regression_fitter``, ``nearest_neighbour_fitter``
                              "fit on the labelled set, predict the test set" functions.
    ``learning_curve``, ``compare_features``, ``summarize``
                              accuracy against the number of labels, over seeds, as a table.
Notebooks 01 and 09
    ``encoder_means``         mu_phi(x) of a trained VAE, used as features.
Notebook 09
    ``hinge_primal_objective``  1/2 |w|^2 + C sum_i max(0, 1 - y_i (w.x_i + b)).
    ``fit_svm_subgradient``   the same objective minimized by sub-gradient descent in torch.
    ``fit_svm_sklearn``       the exact solution from scikit-learn's ``SVC(kernel="linear")``.
    ``margin_report``         geometric margin, radius, support vectors and margin violations.
    ``flip_latent_sign``, ``interpolate_models``  two VAEs with the same ELBO whose average is
                              worse: the ELBO is not concave in the parameters.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .distributions import check_unit_interval
from .information import encode_dataset  # the course's one batched encoder
from .utils import validate_positive_float, validate_positive_int, validate_tensor

# ------------------------------------------------------------------------------- input helpers

PIXELS = "hold values in [0, 1] (binary pixels)"   # what naive Bayes reads (check_unit_interval)


def _check_labels(name: str, labels, n_rows: int | None = None) -> torch.Tensor:
    if isinstance(labels, np.ndarray):
        labels = torch.from_numpy(labels)
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (or numpy array) of integer class "
                        f"labels, got {type(labels).__name__}")
    if torch.is_floating_point(labels) or labels.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer class labels, got dtype {labels.dtype}")
    if labels.dim() != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(labels.shape)}")
    if labels.numel() == 0:
        raise ValueError(f"{name} is empty; pass at least one label")
    if labels.min() < 0:
        raise ValueError(f"{name} must be >= 0 (class indices 0..K-1), got {int(labels.min())}")
    if n_rows is not None and labels.shape[0] != n_rows:
        raise ValueError(f"{name} has {labels.shape[0]} entries but the data has {n_rows} rows")
    return labels.long()


def _as_float_tensor(name: str, value, ndim=None) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.asarray(value, dtype=np.float64))
    return validate_tensor(name, value, ndim=ndim)


def _check_pm1(name: str, y: torch.Tensor, n_rows: int) -> torch.Tensor:
    if isinstance(y, np.ndarray):
        y = torch.from_numpy(y)
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of labels in {{-1, +1}}, got {type(y).__name__}")
    if y.dim() != 1 or y.shape[0] != n_rows:
        raise ValueError(f"{name} must have shape ({n_rows},), got {tuple(y.shape)}")
    if not bool(((y == 1) | (y == -1)).all()):
        raise ValueError(f"{name} must hold labels -1 and +1 only (use to_pm1)")
    return y.double()


# =========================================================================== notebook 01: NB

def beta_prior_from_unlabelled(x_unlabelled: torch.Tensor, strength: float = 2.0
                               ) -> tuple[torch.Tensor, torch.Tensor]:
    """A per-pixel Beta(a_j, b_j) prior whose mean is pixel j's frequency in unlabelled images.

    ``a_j = strength * p_j`` and ``b_j = strength * (1 - p_j)`` with
    ``p_j = (sum_i x_ij + 1) / (N + 2)`` (Laplace-smoothed, so never exactly 0 or 1).
    ``strength`` = a_j + b_j counts as that many "pseudo-images" per class.  No label is used:
    this is how unlabelled data enters a generative classifier (notebook 01).
    """
    x = validate_tensor("x_unlabelled", x_unlabelled, ndim=2)
    check_unit_interval("x_unlabelled", x, PIXELS)
    strength = validate_positive_float("strength", strength)
    p = (x.double().sum(0) + 1.0) / (x.shape[0] + 2.0)
    return strength * p, strength * (1.0 - p)


class BernoulliNaiveBayes:
    """Naive Bayes for binary images (notebook 01): a generative classifier.

    Model: ``c ~ Categorical(pi)``, then ``x_j | c ~ Bernoulli(theta_cj)`` independently for
    every pixel j.  Fitting is counting: with a Beta(a, b) prior on each theta_cj the posterior
    mean is ``theta_cj = (n_cj + a) / (n_c + a + b)``, n_cj = number of class-c images with
    pixel j on (a = b = 1 is Laplace smoothing).  The class prior is smoothed the same way:
    ``pi_c = (n_c + 1) / (N + K)``.

    Classification is Bayes' rule, in log space so that 784 small factors never underflow:
    ``log p(c|x) = log pi_c + sum_j log Bernoulli(x_j; theta_cj) - logsumexp_c'(...)``.
    ``alpha`` and ``beta`` are numbers or per-pixel tensors [D] (see
    ``beta_prior_from_unlabelled``).  Computations are in float64.
    """

    def __init__(self, alpha=1.0, beta=1.0, n_classes: int | None = None):
        self.alpha = self._check_prior("alpha", alpha)
        self.beta = self._check_prior("beta", beta)
        self.n_classes = None if n_classes is None else validate_positive_int("n_classes", n_classes, 2)
        self.pixel_probs: torch.Tensor | None = None
        self.log_prior: torch.Tensor | None = None
        self.class_counts: torch.Tensor | None = None

    @staticmethod
    def _check_prior(name: str, value):
        if isinstance(value, torch.Tensor):
            validate_tensor(name, value, ndim=1)
            if (value <= 0).any():
                raise ValueError(f"{name} must be > 0 everywhere (a Beta parameter)")
            return value.double()
        return validate_positive_float(name, value)

    # ----------------------------------------------------------------------------- fitting
    def fit(self, x: torch.Tensor, labels: torch.Tensor) -> "BernoulliNaiveBayes":
        """Count: class sizes n_c and on-pixels n_cj, then the smoothed estimates."""
        x = validate_tensor("x", x, ndim=2)
        check_unit_interval("x", x, PIXELS)
        labels = _check_labels("labels", labels, x.shape[0])
        k = self.n_classes or int(labels.max()) + 1
        if int(labels.max()) >= k:
            raise ValueError(f"labels must lie in 0..{k - 1} (n_classes={k}), "
                             f"got {int(labels.max())}")
        for name, value in (("alpha", self.alpha), ("beta", self.beta)):
            if isinstance(value, torch.Tensor) and value.shape[0] != x.shape[1]:
                raise ValueError(f"{name} has {value.shape[0]} entries but x has "
                                 f"{x.shape[1]} columns")
        one_hot = torch.nn.functional.one_hot(labels, k).double()        # [N, K]
        self.class_counts = one_hot.sum(0)                               # n_c
        on_counts = (one_hot.T.float() @ x.float()).double()            # n_cj, [K, D]: integer
        # counts, exact in float32 (< 2**24), without a float64 copy of x
        self.pixel_probs = (on_counts + self.alpha) / \
            (self.class_counts[:, None] + self.alpha + self.beta)
        self.log_prior = torch.log((self.class_counts + 1.0) / (x.shape[0] + k))
        return self

    def _fitted(self) -> None:
        if self.pixel_probs is None:
            raise RuntimeError("this BernoulliNaiveBayes is not fitted yet: call fit(x, labels)")

    def _check_x(self, x) -> torch.Tensor:
        self._fitted()
        x = validate_tensor("x", x, ndim=2)
        if x.shape[1] != self.pixel_probs.shape[1]:
            raise ValueError(f"x must have {self.pixel_probs.shape[1]} columns, got {x.shape[1]}")
        check_unit_interval("x", x, PIXELS)
        return x.double()

    # -------------------------------------------------------------------------- Bayes' rule
    def class_log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x | c) for every image and class, [N, K], in nats.

        sum_j x_j log theta_cj + (1 - x_j) log(1 - theta_cj)
          = x . (log theta_c - log(1 - theta_c)) + sum_j log(1 - theta_cj):  one matrix product.
        """
        x = self._check_x(x)
        log_on, log_off = torch.log(self.pixel_probs), torch.log1p(-self.pixel_probs)
        return x @ (log_on - log_off).T + log_off.sum(1)

    def joint_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x, c) = log pi_c + log p(x | c), [N, K]."""
        return self.class_log_likelihood(x) + self.log_prior

    def log_posterior(self, x: torch.Tensor) -> torch.Tensor:
        """log p(c | x) by Bayes' rule: the joint minus log p(x) = logsumexp over classes."""
        joint = self.joint_log_prob(x)
        return joint - torch.logsumexp(joint, dim=1, keepdim=True)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The most probable class, argmax_c p(c|x) (the normalizer p(x) is not needed)."""
        return self.joint_log_prob(x).argmax(dim=1)

    def score(self, x: torch.Tensor, labels: torch.Tensor) -> float:
        """Accuracy on (x, labels)."""
        labels = _check_labels("labels", labels, x.shape[0])
        return float((self.predict(x) == labels).double().mean())

    def log_odds(self, positive: int, negative: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(w, b)`` with ``log p(positive|x) - log p(negative|x) = x . w + b`` for every x:
        naive Bayes on binary pixels is a *linear* classifier, like logistic regression."""
        self._fitted()
        k = self.pixel_probs.shape[0]
        for name, c in (("positive", positive), ("negative", negative)):
            if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c < k:
                raise ValueError(f"{name} must be a class index in 0..{k - 1}, got {c!r}")
        logit = torch.log(self.pixel_probs) - torch.log1p(-self.pixel_probs)
        log_off = torch.log1p(-self.pixel_probs)
        w = logit[positive] - logit[negative]
        b = (log_off[positive].sum() - log_off[negative].sum()
             + self.log_prior[positive] - self.log_prior[negative])
        return w, b

    @torch.no_grad()
    def sample(self, labels: torch.Tensor, *, probs: bool = False,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """One image x ~ p(x | c) per entry of ``labels`` (binary, or the probabilities theta_c
        with ``probs=True``), float32 [N, D]."""
        self._fitted()
        labels = _check_labels("labels", labels)
        if int(labels.max()) >= self.pixel_probs.shape[0]:
            raise ValueError(f"labels must lie in 0..{self.pixel_probs.shape[0] - 1}")
        theta = self.pixel_probs[labels].float()
        return theta if probs else torch.bernoulli(theta, generator=generator)


# ==================================================================== labels, fitters, curves

def balanced_subset(labels, n_labelled: int, seed: int, n_classes: int | None = None) -> np.ndarray:
    """Indices of ``n_labelled`` examples, ``n_labelled / K`` drawn at random from each class
    (without replacement), reproducibly from ``seed``.  ``n_labelled`` must be a multiple of K."""
    labels = _check_labels("labels", labels).numpy()
    n_labelled = validate_positive_int("n_labelled", n_labelled)
    seed = validate_positive_int("seed", seed, minimum=0)
    k = n_classes or int(labels.max()) + 1
    if n_labelled % k:
        raise ValueError(f"n_labelled must be a multiple of the number of classes ({k}) for a "
                         f"balanced subset, got {n_labelled}")
    per_class = n_labelled // k
    rng = np.random.default_rng(seed)
    chosen = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        if per_class > len(members):
            raise ValueError(f"n_labelled={n_labelled} needs {per_class} examples of class {c}, "
                             f"but only {len(members)} exist")
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


Fitter = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def naive_bayes_fitter(alpha=1.0, beta=1.0) -> Fitter:
    """``fit_predict(x_labelled, y_labelled, x_test) -> predicted labels`` with naive Bayes."""
    def fit_predict(x_lab, y_lab, x_test):
        return BernoulliNaiveBayes(alpha, beta, n_classes=10).fit(x_lab, y_lab).predict(x_test)
    return fit_predict


def logistic_regression_fitter(C: float = 1.0, max_iter: int = 500, tol: float = 1e-3) -> Fitter:
    """``fit_predict`` with scikit-learn's multinomial ``LogisticRegression`` (L2 penalty,
    inverse strength ``C``): the discriminative classifier of notebook 01.  ``tol=1e-3`` (the
    library's default is 1e-4) halves the cost on 8,000 digits and changes no accuracy by more
    than 0.1 point here.  The features are passed as float32 (binary pixels and 16-number codes
    lose nothing), which the solver keeps: half the memory of float64, and faster; notebook 01
    fits its full-data model the same way, so its numbers agree with the learning curve's."""
    from sklearn.linear_model import LogisticRegression

    C = validate_positive_float("C", C)
    max_iter = validate_positive_int("max_iter", max_iter)
    tol = validate_positive_float("tol", tol)

    def fit_predict(x_lab, y_lab, x_test):
        model = LogisticRegression(C=C, max_iter=max_iter, tol=tol)
        model.fit(np.asarray(x_lab, dtype=np.float32), np.asarray(y_lab))
        return torch.from_numpy(model.predict(np.asarray(x_test, dtype=np.float32)))
    return fit_predict


def nearest_neighbour_fitter() -> Fitter:
    """``fit_predict`` with the 1-nearest-neighbour rule (Euclidean distance): it uses nothing
    but the geometry of the feature space."""
    from sklearn.neighbors import KNeighborsClassifier

    def fit_predict(x_lab, y_lab, x_test):
        model = KNeighborsClassifier(n_neighbors=1).fit(np.asarray(x_lab), np.asarray(y_lab))
        return torch.from_numpy(model.predict(np.asarray(x_test)))
    return fit_predict


def learning_curve(fitters: dict[str, Fitter], x_train, y_train, x_test, y_test,
                   n_labels: list[int], n_seeds: int | dict[int, int] = 5):
    """Test accuracy of each fitter against the number of labelled training examples.

    For every ``n`` in ``n_labels`` and seed 0..n_seeds-1 the labelled set is
    ``balanced_subset(y_train, n, seed)``; ``n = len(y_train)`` means the whole training set
    (one run: there is nothing random to repeat).  ``n_seeds`` may be a dict ``{n: seeds}``.
    Returns a pandas DataFrame with columns classifier, n_labels, seed, accuracy.
    """
    import pandas as pd

    if not fitters:
        raise ValueError("fitters must hold at least one classifier")
    y_train = _check_labels("y_train", y_train, len(x_train))
    y_test = _check_labels("y_test", y_test, len(x_test))
    if not n_labels:
        raise ValueError("n_labels must list at least one number of labels")
    rows = []
    for n in n_labels:
        n = validate_positive_int("n_labels", n)
        seeds = n_seeds.get(n, 1) if isinstance(n_seeds, dict) else n_seeds
        seeds = 1 if n == len(y_train) else validate_positive_int("n_seeds", seeds)
        for seed in range(seeds):
            index = np.arange(len(y_train)) if n == len(y_train) else \
                balanced_subset(y_train, n, seed)
            index_t = torch.from_numpy(index)
            for name, fit_predict in fitters.items():
                predicted = torch.as_tensor(fit_predict(x_train[index_t], y_train[index_t], x_test))
                accuracy = float((predicted.long() == y_test).double().mean())
                rows.append(dict(classifier=name, n_labels=n, seed=seed, accuracy=accuracy))
    return pd.DataFrame(rows)


def compare_features(feature_sets: dict, fitters: dict[str, Fitter], y_train, y_test,
                     n_labels: list[int], n_seeds: int = 5):
    """``learning_curve`` for each representation in ``feature_sets`` = {name: (train, test)},
    with the *same* labelled subsets, as one DataFrame with an extra column ``features``."""
    import pandas as pd

    if not feature_sets:
        raise ValueError("feature_sets must hold at least one (train, test) pair")
    frames = []
    for name, (train, test) in feature_sets.items():
        frame = learning_curve(fitters, train, y_train, test, y_test, n_labels, n_seeds)
        frames.append(frame.assign(features=name))
    return pd.concat(frames, ignore_index=True)


def summarize(results, by=("classifier", "n_labels")):
    """Mean and standard deviation of the accuracy (in %) and the number of seeds, per group."""
    table = results.groupby(list(by))["accuracy"].agg(["mean", "std", "count"])
    table[["mean", "std"]] *= 100
    return table.rename(columns={"mean": "accuracy %", "std": "std %", "count": "seeds"})


@torch.no_grad()
def encoder_means(model, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """mu_phi(x), the mean of q_phi(z|x), for every row of ``x``: the VAE's representation of an
    image, used as features by a classifier (notebooks 01 and 09).  No labels are involved."""
    return encode_dataset(model, x, batch_size=batch_size)[0]


# ==================================================================== notebook 09: linear SVMs

def to_pm1(labels, positive: int) -> torch.Tensor:
    """+1 where ``labels == positive``, -1 elsewhere (float64): the SVM's label convention."""
    labels = _check_labels("labels", labels)
    return torch.where(labels == positive, 1.0, -1.0).double()


def hinge_primal_objective(w: torch.Tensor, b, x: torch.Tensor, y: torch.Tensor,
                           C: float) -> torch.Tensor:
    """The soft-margin SVM primal (Cortes & Vapnik 1995):
    ``1/2 |w|^2 + C sum_i max(0, 1 - y_i (w . x_i + b))``; a convex function of (w, b)."""
    x = _as_float_tensor("x", x, ndim=2).double()
    w = _as_float_tensor("w", w, ndim=1).double()
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"w has {w.shape[0]} entries but x has {x.shape[1]} columns")
    y = _check_pm1("y", y, x.shape[0])
    C = validate_positive_float("C", C)
    b = torch.as_tensor(b, dtype=torch.float64)
    return 0.5 * w @ w + C * torch.clamp(1.0 - y * (x @ w + b), min=0.0).sum()


@dataclass
class SVMFit:
    """A linear SVM ``f(x) = w . x + b`` and how it was found."""
    weight: torch.Tensor
    bias: float
    objective_trace: list

    def decision_function(self, x) -> torch.Tensor:
        return _as_float_tensor("x", x, ndim=2).double() @ self.weight + self.bias

    def accuracy(self, x, y) -> float:
        x = _as_float_tensor("x", x, ndim=2)
        y = _check_pm1("y", y, x.shape[0])
        return float((torch.sign(self.decision_function(x)) == y).double().mean())


def fit_svm_subgradient(x, y, C: float, n_steps: int = 1500, *, record_every: int = 10) -> SVMFit:
    """Minimize the SVM primal by full-batch sub-gradient descent (notebook 09).

    A sub-gradient of ``1/2 |w|^2 + C sum_i hinge_i`` at (w, b) is
    ``g_w = w - C sum_{i: y_i f_i < 1} y_i x_i`` and ``g_b = -C sum_{i: y_i f_i < 1} y_i``.
    The objective is 1-strongly convex in w, so the step size 1/t converges (the full-batch form
    of Pegasos, Shalev-Shwartz et al. 2011, with an unregularized bias); the returned (w, b) is
    the average of the iterates of the second half, which removes most of the zig-zag of a
    non-smooth objective.  ``objective_trace`` holds (step, objective of the running average).
    """
    x = _as_float_tensor("x", x, ndim=2).double()
    y = _check_pm1("y", y, x.shape[0])
    C = validate_positive_float("C", C)
    n_steps = validate_positive_int("n_steps", n_steps, minimum=2)
    record_every = validate_positive_int("record_every", record_every)
    w = torch.zeros(x.shape[1], dtype=torch.float64)
    b = torch.zeros((), dtype=torch.float64)
    w_sum, b_sum, n_sum = torch.zeros_like(w), torch.zeros_like(b), 0
    start_average = n_steps // 2
    trace = []
    for t in range(1, n_steps + 1):
        active = (y * (x @ w + b) < 1.0).double() * y          # y_i where the hinge is active
        grad_w = w - C * (active @ x)
        grad_b = -C * active.sum()
        w, b = w - grad_w / t, b - grad_b / t
        if t > start_average:
            w_sum += w
            b_sum += b
            n_sum += 1
        if t % record_every == 0 or t == n_steps:
            w_now, b_now = (w_sum / n_sum, b_sum / n_sum) if n_sum else (w, b)
            trace.append((t, float(hinge_primal_objective(w_now, b_now, x, y, C))))
    return SVMFit(w_sum / n_sum, float(b_sum / n_sum), trace)


def fit_svm_sklearn(x, y, C: float):
    """The exact soft-margin SVM from scikit-learn's ``SVC(kernel="linear")`` (libsvm solves the
    dual QP).  Returns ``(SVMFit, svc)``; ``svc.n_support_`` counts the support vectors."""
    from sklearn.svm import SVC

    x = _as_float_tensor("x", x, ndim=2).double()
    y = _check_pm1("y", y, x.shape[0])
    C = validate_positive_float("C", C)
    svc = SVC(kernel="linear", C=C, tol=1e-4).fit(x.numpy(), y.numpy())
    w = torch.from_numpy(svc.coef_.ravel().astype(np.float64))
    b = float(svc.intercept_[0])
    return SVMFit(w, b, [(0, float(hinge_primal_objective(w, b, x, y, C)))]), svc


def margin_report(w, b, x, y, tol: float = 1e-3) -> dict:
    """What the SVM's solution looks like on (x, y) (notebook 09):

    * ``geometric_margin`` = 1/|w|: the distance from the hyperplane f(x) = 0 to f(x) = +-1;
    * ``radius`` = max_i |x_i - mean(x)|, and ``margin_over_radius`` = margin / radius, which
      does not change when all features are rescaled together (NaN for a single point).  It is
      NOT a fair way to compare two feature spaces: one outlying point sets the largest
      distance (with per-pixel standardization, an image with a rare pixel);
    * ``support_vectors``: points with y f(x) <= 1 + tol (on or inside the margin);
    * ``margin_violations``: y f(x) < 1 - tol (inside the margin or misclassified);
    * ``training_errors``: y f(x) <= 0 (on the boundary counts as an error);  ``train_accuracy``.
    """
    x = _as_float_tensor("x", x, ndim=2).double()
    w = _as_float_tensor("w", w, ndim=1).double()
    y = _check_pm1("y", y, x.shape[0])
    tol = validate_positive_float("tol", tol, allow_zero=True)
    norm = float(w.norm())
    if norm == 0:
        raise ValueError("w is the zero vector: there is no hyperplane and no margin")
    functional = y * (x @ w + float(b))
    radius = float((x - x.mean(0)).norm(dim=1).max())
    margin = 1.0 / norm
    return dict(geometric_margin=margin, radius=radius,
                margin_over_radius=margin / radius if radius > 0 else float("nan"),
                support_vectors=int((functional <= 1 + tol).sum()),
                margin_violations=int((functional < 1 - tol).sum()),
                training_errors=int((functional <= 0).sum()),
                train_accuracy=float((functional > 0).double().mean()))


# ============================================================= notebook 09: the ELBO is not convex

def _latent_layers(model):
    encoder_out = [m for m in model.encoder if isinstance(m, torch.nn.Linear)][-1]
    decoder_in = [m for m in model.decoder if isinstance(m, torch.nn.Linear)][0]
    return encoder_out, decoder_in


@torch.no_grad()
def flip_latent_sign(model, k: int):
    """A copy of a ``BernoulliVAE`` that uses -z_k where ``model`` uses z_k.

    The encoder's mean output k and the decoder's input column k change sign; the log-variance
    is untouched.  Because p(z) = N(0, I) is symmetric, the copy has exactly the same ELBO
    distribution (the decoder sees the same z up to eps_k -> -eps_k) but different parameters.
    """
    latent_dim = model.latent_dim
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < latent_dim:
        raise ValueError(f"k must be a latent index in 0..{latent_dim - 1}, got {k!r}")
    flipped = copy.deepcopy(model)
    encoder_out, decoder_in = _latent_layers(flipped)
    encoder_out.weight[k].neg_()
    encoder_out.bias[k].neg_()
    decoder_in.weight[:, k].neg_()
    return flipped


@torch.no_grad()
def interpolate_models(model_a, model_b, t: float):
    """The model whose every parameter is (1 - t) * a + t * b (same architecture required)."""
    if isinstance(t, bool) or not isinstance(t, (int, float, np.floating)) or not math.isfinite(t):
        raise TypeError(f"t must be a finite number, got {t!r}")
    state_a, state_b = model_a.state_dict(), model_b.state_dict()
    if state_a.keys() != state_b.keys() or any(state_a[n].shape != state_b[n].shape for n in state_a):
        raise ValueError("model_a and model_b must have the same architecture")
    mixed = copy.deepcopy(model_a)
    mixed.load_state_dict({n: (1 - t) * state_a[n] + t * state_b[n] for n in state_a})
    return mixed


# ======================================================================== tables and pictures

def standardize(train, *others) -> tuple[torch.Tensor, ...]:
    """Shift and scale every column to mean 0 and standard deviation 1 *on the training rows*,
    and apply the same map to ``others``.  A constant column (a pixel that is always off) keeps
    scale 1.  The SVM's C and margin depend on the scale of the features, so both feature
    spaces of notebook 09 are standardized the same way.  Returns float64 tensors."""
    train = _as_float_tensor("train", train, ndim=2).to(torch.float64, copy=True)
    mean, std = train.mean(0), train.std(0)
    std = torch.where(std > 1e-12, std, torch.ones_like(std))
    out = [train.sub_(mean).div_(std)]          # in place on the copy: one float64 array at a time
    for i, other in enumerate(others):
        other = _as_float_tensor(f"others[{i}]", other, ndim=2).to(torch.float64, copy=True)
        if other.shape[1] != train.shape[1]:
            raise ValueError(f"others[{i}] has {other.shape[1]} columns, train has {train.shape[1]}")
        out.append(other.sub_(mean).div_(std))
    return tuple(out)


def choose_C(x, y, C_grid=(0.001, 0.01, 0.1, 1.0), folds: int = 3) -> float:
    """The C of ``C_grid`` with the best ``folds``-fold cross-validated accuracy of a linear
    SVC on (x, y): chosen from the training labels only, never from the test set."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    x = _as_float_tensor("x", x, ndim=2).double()
    y = _check_pm1("y", y, x.shape[0])
    if not C_grid:
        raise ValueError("C_grid must list at least one value of C")
    for C in C_grid:
        validate_positive_float("C_grid entries", C)
    folds = validate_positive_int("folds", folds, minimum=2)
    search = GridSearchCV(SVC(kernel="linear", tol=1e-3), {"C": list(C_grid)}, cv=folds, refit=False)
    search.fit(x.numpy(), y.numpy())
    return float(search.best_params_["C"])


def svm_comparison(feature_sets: dict, y_train, y_test, positive: int, negative: int,
                   n_labels: list[int], n_seeds: int = 3, C_grid=(0.001, 0.01, 0.1, 1.0)):
    """Linear SVMs on several representations of the same images (notebook 09).

    For each representation {name: (train, test)}, number of labels n (balanced, ``n_seeds``
    random subsets; ``n = None`` uses every training image of the two classes once), and seed:
    standardize on the labelled rows, choose C by 3-fold cross-validation on them, fit
    ``SVC(kernel="linear")``, and record test accuracy with ``margin_report`` on the labelled
    set.  Returns a pandas DataFrame, one row per fit.
    """
    import pandas as pd

    y_train = _check_labels("y_train", y_train)
    y_test = _check_labels("y_test", y_test)
    train_rows = torch.nonzero((y_train == positive) | (y_train == negative)).squeeze(1)
    test_rows = torch.nonzero((y_test == positive) | (y_test == negative)).squeeze(1)
    if len(train_rows) == 0 or len(test_rows) == 0:
        raise ValueError(f"no training or test example of class {positive} or {negative}")
    binary_train = (y_train[train_rows] == positive).long()
    y_pm_train, y_pm_test = to_pm1(y_train[train_rows], positive), to_pm1(y_test[test_rows], positive)
    rows = []
    for name, (train, test) in feature_sets.items():
        train = _as_float_tensor(f"feature_sets[{name!r}] train", train, ndim=2)[train_rows]
        test = _as_float_tensor(f"feature_sets[{name!r}] test", test, ndim=2)[test_rows]
        for n in n_labels:
            seeds = 1 if n is None else validate_positive_int("n_seeds", n_seeds)
            for seed in range(seeds):
                index = torch.arange(len(train_rows)) if n is None else \
                    torch.from_numpy(balanced_subset(binary_train, n, seed, n_classes=2))
                x_lab, x_test = standardize(train[index], test)
                y_lab = y_pm_train[index]
                C = choose_C(x_lab, y_lab, C_grid)
                svm, svc = fit_svm_sklearn(x_lab, y_lab, C)
                report = margin_report(svm.weight, svm.bias, x_lab, y_lab)
                rows.append(dict(features=name, dim=train.shape[1],
                                 n_labels=len(index), seed=seed, C=C,
                                 test_accuracy=svm.accuracy(x_test, y_pm_test), **report,
                                 libsvm_support_vectors=int(svc.n_support_.sum())))
    return pd.DataFrame(rows)


def plot_learning_curves(results, *, ax=None, title: str | None = None):
    """Mean test accuracy (%) against the number of labels (log axis), one line per classifier,
    with error bars of one standard deviation over the seeds (notebook 01)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    table = results.groupby(["classifier", "n_labels"])["accuracy"].agg(["mean", "std"])
    for name in results["classifier"].unique():
        part = table.loc[name]
        ax.errorbar(part.index, 100 * part["mean"], yerr=100 * part["std"].fillna(0),
                    marker="o", capsize=3, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("number of labelled training images (balanced, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def plot_linear_svm_2d(points, y, svm: SVMFit, *, ax=None, support_tol: float = 1e-3,
                       labels=("-1", "+1"), title: str | None = None):
    """2-D points coloured by class, the line w.x + b = 0 (the decision boundary), the two
    margin lines w.x + b = +-1, and circles around the support vectors (notebook 09)."""
    import matplotlib.pyplot as plt

    from .plots import label_colors

    points = _as_float_tensor("points", points, ndim=2).double()
    if points.shape[1] != 2 or svm.weight.shape[0] != 2:
        raise ValueError("points and the SVM must be 2-D to be drawn")
    y = _check_pm1("y", y, points.shape[0])
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 5.5))
    colors = label_colors(2)
    p, yy = points.numpy(), y.numpy()
    for sign, color, label in ((-1, colors[0], labels[0]), (1, colors[1], labels[1])):
        mask = yy == sign
        ax.scatter(p[mask, 0], p[mask, 1], s=10, alpha=0.55, color=color, label=label,
                   linewidths=0)
    functional = yy * (p @ svm.weight.numpy() + svm.bias)
    sv = functional <= 1 + support_tol
    ax.scatter(p[sv, 0], p[sv, 1], s=40, facecolors="none", edgecolors="black", linewidths=0.6,
               label=f"support vectors ({int(sv.sum())})")
    w1, w2 = svm.weight.tolist()
    lo, hi = p.min(0) - 0.5, p.max(0) + 0.5
    for level, style in ((0, "-"), (1, "--"), (-1, "--")):   # the lines w.x + b = level
        if abs(w2) >= abs(w1):
            xs = np.array([lo[0], hi[0]])
            ys = (level - svm.bias - w1 * xs) / w2
        else:
            ys = np.array([lo[1], hi[1]])
            xs = (level - svm.bias - w2 * ys) / w1
        ax.plot(xs, ys, "k" + style, linewidth=1.8 if level == 0 else 1.1)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.legend(loc="best", markerscale=1.5)
    if title:
        ax.set_title(title)
    return ax


def svm_view(x, svm: SVMFit) -> tuple[torch.Tensor, SVMFit]:
    """A faithful 2-D view of a high-dimensional linear SVM (notebook 09).

    The horizontal coordinate is the signed distance to the hyperplane, ``(w.x + b) / |w|``;
    the vertical one is the largest principal direction of x with the w-component removed.  In
    these coordinates the SVM is exactly ``f = |w| * u``: the boundary is the line u = 0 and the
    margins are u = +-1/|w|.  Returns ``(coordinates [N, 2], the SVM in those coordinates)``.
    """
    x = _as_float_tensor("x", x, ndim=2).double()
    w = svm.weight.double()
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"the SVM has {w.shape[0]} weights but x has {x.shape[1]} columns")
    norm = w.norm()
    unit = w / norm
    u = (x @ w + svm.bias) / norm
    rest = x - x.mean(0)
    rest = rest - (rest @ unit)[:, None] * unit
    direction = torch.linalg.svd(rest, full_matrices=False)[2][0]
    v = rest @ direction
    return torch.stack([u, v], dim=1), SVMFit(torch.stack([norm, torch.zeros((), dtype=torch.float64)]),
                                              0.0, [])
