"""Tests of vae_teach.classifiers (notebooks 01 and 09) and their exercise checkers.

Every formula is checked against an independent computation: torch.distributions for naive
Bayes, hand-worked counts for the Beta smoothing, scikit-learn's exact QP for the sub-gradient
SVM, autograd for the hinge sub-gradient, a hand-made 2-D example for the margins.
"""
import numpy as np
import pytest
import torch

from vae_teach.classifiers import (BernoulliNaiveBayes, balanced_subset,
                                   beta_prior_from_unlabelled, choose_C, compare_features,
                                   encoder_means, fit_svm_sklearn, fit_svm_subgradient,
                                   flip_latent_sign, hinge_primal_objective, interpolate_models,
                                   learning_curve, logistic_regression_fitter, margin_report,
                                   naive_bayes_fitter, nearest_neighbour_fitter, plot_learning_curves,
                                   plot_linear_svm_2d, standardize, summarize, svm_comparison,
                                   svm_view, to_pm1)
from vae_teach.exercises import classifiers as ex
from vae_teach.models import BernoulliVAE
from vae_teach.objectives import elbo_terms


def toy_images(n_per_class=30, dim=12, seed=0):
    """Three classes of binary 'images' drawn from known, well separated pixel probabilities."""
    g = torch.Generator().manual_seed(seed)
    theta = torch.full((3, dim), 0.1)
    theta[0, :4], theta[1, 4:8], theta[2, 8:] = 0.9, 0.9, 0.9
    labels = torch.arange(3).repeat_interleave(n_per_class)
    x = torch.bernoulli(theta[labels], generator=g)
    return x, labels, theta


# ------------------------------------------------------------------------------ naive Bayes

def test_nb_counts_with_beta_smoothing_by_hand():
    x = torch.tensor([[1., 0., 1.], [1., 1., 0.], [0., 0., 0.], [1., 0., 0.], [0., 1., 1.]])
    labels = torch.tensor([0, 0, 0, 1, 1])
    nb = BernoulliNaiveBayes(alpha=2.0, beta=3.0).fit(x, labels)
    # class 0: n = 3, on-counts (2, 1, 1); class 1: n = 2, on-counts (1, 1, 1)
    expected = torch.tensor([[4 / 8, 3 / 8, 3 / 8], [3 / 7, 3 / 7, 3 / 7]], dtype=torch.float64)
    assert torch.allclose(nb.pixel_probs, expected, rtol=0, atol=1e-15)
    assert torch.allclose(nb.log_prior.exp(), torch.tensor([4 / 7, 3 / 7], dtype=torch.float64))


def test_nb_log_likelihood_matches_torch_distributions():
    x, labels, _ = toy_images()
    nb = BernoulliNaiveBayes().fit(x, labels)
    reference = torch.distributions.Bernoulli(probs=nb.pixel_probs).log_prob(
        x[:, None, :].double()).sum(-1)
    assert torch.allclose(nb.class_log_likelihood(x), reference, rtol=0, atol=1e-12)
    joint = nb.joint_log_prob(x)
    assert torch.allclose(joint, reference + nb.log_prior, rtol=0, atol=1e-12)
    posterior = torch.distributions.Categorical(logits=joint).probs
    assert torch.allclose(nb.log_posterior(x).exp(), posterior, rtol=0, atol=1e-12)
    assert torch.allclose(nb.log_posterior(x).exp().sum(1), torch.ones(len(x), dtype=torch.float64), rtol=0, atol=1e-12)
    assert torch.equal(nb.predict(x), posterior.argmax(1))


def test_nb_recovers_the_true_pixel_probabilities_and_classifies():
    x, labels, theta = toy_images(n_per_class=3000, seed=1)
    nb = BernoulliNaiveBayes().fit(x, labels)
    assert torch.allclose(nb.pixel_probs.float(), theta, atol=0.03)
    x_test, labels_test, _ = toy_images(n_per_class=200, seed=2)
    assert nb.score(x_test, labels_test) > 0.99


def test_nb_posterior_does_not_underflow_in_high_dimension():
    g = torch.Generator().manual_seed(0)
    x = torch.bernoulli(torch.full((40, 5000), 0.5), generator=g)   # log p(x|c) ~ -3500 nats
    labels = torch.arange(2).repeat(20)
    nb = BernoulliNaiveBayes().fit(x, labels)
    post = nb.log_posterior(x).exp()
    assert torch.isfinite(post).all() and torch.allclose(post.sum(1), torch.ones(40, dtype=torch.float64))
    assert (torch.exp(nb.joint_log_prob(x)) == 0).all()             # the naive route underflows


def test_nb_log_odds_is_linear():
    x, labels, _ = toy_images()
    nb = BernoulliNaiveBayes(alpha=0.5, beta=0.5).fit(x, labels)
    w, b = nb.log_odds(2, 0)
    post = nb.log_posterior(x)
    assert torch.allclose(x.double() @ w + b, post[:, 2] - post[:, 0], rtol=0, atol=1e-10)


def test_nb_per_pixel_prior_from_unlabelled_data():
    x, labels, _ = toy_images()
    a, b = beta_prior_from_unlabelled(x, strength=4.0)
    p = (x.double().sum(0) + 1) / (len(x) + 2)
    assert torch.allclose(a + b, torch.full_like(a, 4.0)) and torch.allclose(a / 4.0, p)
    few = torch.tensor([0, 1, 30, 60])                                # 2, 1 and 1 labels per class
    nb = BernoulliNaiveBayes(a, b).fit(x[few], labels[few])
    counts = torch.stack([x[few][labels[few] == c].sum(0) for c in range(3)]).double()
    n = torch.tensor([2.0, 1.0, 1.0], dtype=torch.float64)
    assert torch.allclose(nb.pixel_probs, (counts + a) / (n[:, None] + 4.0))


def test_nb_sampling_has_the_model_mean():
    x, labels, theta = toy_images()
    nb = BernoulliNaiveBayes().fit(x, labels)
    g = torch.Generator().manual_seed(3)
    draws = nb.sample(torch.full((20000,), 1), generator=g)
    assert set(draws.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(draws.mean(0).double(), nb.pixel_probs[1], atol=0.02)
    assert torch.equal(nb.sample(torch.tensor([2]), probs=True)[0], nb.pixel_probs[2].float())


@pytest.mark.parametrize("call, error, words", [
    (lambda: BernoulliNaiveBayes(alpha=0), ValueError, "alpha"),
    (lambda: BernoulliNaiveBayes(beta=-1.0), ValueError, "beta"),
    (lambda: BernoulliNaiveBayes(alpha=torch.tensor([1.0, -1.0])), ValueError, "alpha"),
    (lambda: BernoulliNaiveBayes().fit(torch.zeros(3, 2), torch.tensor([0.0, 1.0, 1.0])), TypeError, "labels"),
    (lambda: BernoulliNaiveBayes().fit(torch.zeros(3, 2), torch.tensor([0, 1])), ValueError, "labels"),
    (lambda: BernoulliNaiveBayes().fit(torch.full((2, 2), 2.0), torch.tensor([0, 1])), ValueError, "x"),
    (lambda: BernoulliNaiveBayes().fit(torch.zeros(2), torch.tensor([0, 1])), ValueError, "x"),
    (lambda: BernoulliNaiveBayes(n_classes=2).fit(torch.zeros(2, 2), torch.tensor([0, 2])), ValueError, "labels"),
    (lambda: BernoulliNaiveBayes(alpha=torch.ones(3)).fit(torch.zeros(2, 2), torch.tensor([0, 1])), ValueError, "alpha"),
    (lambda: BernoulliNaiveBayes().predict(torch.zeros(2, 2)), RuntimeError, "not fitted"),
    (lambda: BernoulliNaiveBayes().fit(torch.zeros(2, 2), torch.tensor([0, 1])).predict(torch.zeros(2, 3)), ValueError, "x"),
    (lambda: BernoulliNaiveBayes().fit(torch.zeros(2, 2), torch.tensor([0, 1])).log_odds(0, 5), ValueError, "negative"),
    (lambda: beta_prior_from_unlabelled(torch.zeros(3, 2), strength=0), ValueError, "strength"),
], ids=[
    "alpha-zero",
    "beta-negative",
    "alpha-vector-negative",
    "labels-float",
    "labels-too-few",
    "x-not-binary",
    "x-1d",
    "labels-beyond-n-classes",
    "alpha-vector-wrong-length",
    "predict-before-fit",
    "predict-x-width",
    "log-odds-unknown-class",
    "prior-strength-zero",
])
def test_nb_bad_input(call, error, words):
    with pytest.raises(error, match=words):
        call()


# ------------------------------------------------------------------------ subsets and curves

def test_balanced_subset():
    labels = torch.arange(3).repeat_interleave(10)
    index = balanced_subset(labels, 6, seed=4)
    assert np.bincount(labels[index].numpy()).tolist() == [2, 2, 2]
    assert np.array_equal(index, balanced_subset(labels, 6, seed=4))
    assert not np.array_equal(index, balanced_subset(labels, 6, seed=5))
    with pytest.raises(ValueError, match="multiple"):
        balanced_subset(labels, 7, seed=0)
    with pytest.raises(ValueError, match="only 10"):
        balanced_subset(labels, 33, seed=0)
    with pytest.raises(TypeError, match="labels"):
        balanced_subset(labels.float(), 6, seed=0)


def test_learning_curve_with_known_answers():
    x, labels, _ = toy_images(n_per_class=20)
    x_test, labels_test, _ = toy_images(n_per_class=10, seed=5)

    def always_zero(x_lab, y_lab, x_new):
        return torch.zeros(len(x_new), dtype=torch.long)

    def copy_first_label(x_lab, y_lab, x_new):
        assert len(y_lab) in (3, 60) and np.bincount(y_lab.numpy(), minlength=3).min() >= 1
        return torch.full((len(x_new),), int(y_lab[0]))

    result = learning_curve({"zero": always_zero, "first": copy_first_label,
                             "nb": naive_bayes_fitter()}, x, labels, x_test, labels_test,
                            n_labels=[3, 60], n_seeds={3: 4})
    assert len(result) == 3 * (4 + 1)                     # 60 = all labels: one run only
    assert np.allclose(result[result.classifier == "zero"].accuracy, 1 / 3)
    table = summarize(result)
    assert table.loc[("zero", 3), "seeds"] == 4 and table.loc[("zero", 60), "seeds"] == 1
    assert table.loc[("nb", 60), "accuracy %"] > 95
    with pytest.raises(ValueError, match="fitters"):
        learning_curve({}, x, labels, x_test, labels_test, [3])


def test_library_fitters_and_compare_features():
    x, labels, _ = toy_images(n_per_class=20)
    x_test, labels_test, _ = toy_images(n_per_class=10, seed=6)
    for fitter in (logistic_regression_fitter(C=1.0), nearest_neighbour_fitter(),
                   naive_bayes_fitter()):
        predicted = fitter(x, labels, x_test)
        assert (predicted == labels_test).double().mean() > 0.9
    both = compare_features({"a": (x, x_test), "b": (x * 2, x_test * 2)},
                            {"1nn": nearest_neighbour_fitter()}, labels, labels_test, [30], n_seeds=2)
    acc = both.pivot_table(index="seed", columns="features", values="accuracy")
    assert np.allclose(acc["a"], acc["b"])                # same subsets; 1-NN ignores a common scale
    plot_learning_curves(both)
    with pytest.raises(ValueError, match="C"):
        logistic_regression_fitter(C=0)


def test_encoder_means_is_the_encoder_mean():
    torch.manual_seed(0)
    model = BernoulliVAE(input_dim=6, hidden_dim=5, latent_dim=2)
    x = torch.bernoulli(torch.full((7, 6), 0.5))
    assert torch.allclose(encoder_means(model, x, batch_size=3), model.encode(x)[0])
    with pytest.raises(ValueError, match="x"):
        encoder_means(model, torch.zeros(6))


# ------------------------------------------------------------------------------------- SVMs

def two_blobs(n=60, dim=5, shift=1.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0).double()
    x = torch.randn(n, dim, generator=g, dtype=torch.float64) + shift * y[:, None] * torch.linspace(1, 0.2, dim, dtype=torch.float64)
    return x, y


def test_hinge_objective_by_hand_and_convexity():
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, -1.0]], dtype=torch.float64)
    y = torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)
    w, b, C = torch.tensor([1.0, 0.5], dtype=torch.float64), 0.25, 2.0
    # margins y f: 1.25, -1.25, 1.25 -> hinges 0, 2.25, 0
    assert torch.isclose(hinge_primal_objective(w, b, x, y, C), torch.tensor(0.5 * 1.25 + 2.0 * 2.25, dtype=torch.float64))
    g = torch.Generator().manual_seed(1)
    xs, ys = two_blobs()
    for _ in range(20):
        w1, w2 = torch.randn(2, 5, generator=g, dtype=torch.float64)
        b1, b2 = torch.randn(2, generator=g, dtype=torch.float64).tolist()
        mid = hinge_primal_objective((w1 + w2) / 2, (b1 + b2) / 2, xs, ys, 0.3)
        ends = (hinge_primal_objective(w1, b1, xs, ys, 0.3) + hinge_primal_objective(w2, b2, xs, ys, 0.3)) / 2
        assert mid <= ends + 1e-12


def test_subgradient_svm_reaches_the_qp_optimum():
    x, y = two_blobs(n=120, dim=6, shift=0.8)
    exact, svc = fit_svm_sklearn(x, y, C=0.1)
    ours = fit_svm_subgradient(x, y, C=0.1, n_steps=3000)
    best = hinge_primal_objective(exact.weight, exact.bias, x, y, 0.1)
    mine = hinge_primal_objective(ours.weight, ours.bias, x, y, 0.1)
    assert 0 <= (mine - best) / best < 0.01
    cosine = ours.weight @ exact.weight / (ours.weight.norm() * exact.weight.norm())
    assert cosine > 0.99
    assert abs(ours.accuracy(x, y) - exact.accuracy(x, y)) <= 0.02
    assert ours.objective_trace[-1][0] == 3000
    assert ours.objective_trace[0][1] > ours.objective_trace[-1][1]
    # libsvm's support vectors are the points on or inside the margin
    report = margin_report(exact.weight, exact.bias, x, y, tol=1e-2)
    assert abs(report["support_vectors"] - int(svc.n_support_.sum())) <= 2


def test_margin_report_on_a_hand_made_example():
    x = torch.tensor([[2.0, 0.0], [1.0, 5.0], [-1.0, 0.0], [-3.0, 1.0], [0.25, 0.0], [1.5, 2.0]],
                     dtype=torch.float64)
    y = torch.tensor([1.0, 1.0, -1.0, -1.0, -1.0, -1.0], dtype=torch.float64)
    w, b = torch.tensor([2.0, 0.0], dtype=torch.float64), -1.0      # f = 2 x1 - 1
    # y f = 3, 1, 3, 7, 0.5, -2 -> margin 1/2; (1,5) on the margin, (0.25,0) inside, (1.5,2) wrong
    report = margin_report(w, b, x, y)
    assert report["geometric_margin"] == 0.5
    assert report["support_vectors"] == 3 and report["margin_violations"] == 2
    assert report["training_errors"] == 1 and report["train_accuracy"] == 5 / 6
    on_boundary = margin_report(w, b, torch.tensor([[0.5, 0.0]], dtype=torch.float64),
                                torch.tensor([1.0], dtype=torch.float64))
    assert on_boundary["training_errors"] == 1 and on_boundary["train_accuracy"] == 0.0
    centre = x.mean(0)
    assert np.isclose(report["radius"], float((x - centre).norm(dim=1).max()))
    with pytest.raises(ValueError, match="zero vector"):
        margin_report(torch.zeros(2, dtype=torch.float64), 0.0, x, y)


def test_svm_view_keeps_the_decision_function():
    x, y = two_blobs(n=80, dim=7)
    svm, _ = fit_svm_sklearn(x, y, C=1.0)
    view, svm2 = svm_view(x, svm)
    assert torch.allclose(svm2.decision_function(view), svm.decision_function(x), atol=1e-9)
    assert margin_report(svm2.weight, svm2.bias, view, y)["geometric_margin"] == \
        pytest.approx(margin_report(svm.weight, svm.bias, x, y)["geometric_margin"])
    plot_linear_svm_2d(view, y, svm2)           # a vertical boundary must draw without error
    with pytest.raises(ValueError, match="2-D"):
        plot_linear_svm_2d(x, y, svm)


def test_standardize_choose_C_and_svm_comparison():
    x, y = two_blobs(n=60, dim=4)
    a, b = standardize(x * 10 + 3, x)
    assert torch.allclose(a.mean(0), torch.zeros(4, dtype=torch.float64), rtol=0, atol=1e-12)
    assert torch.allclose(a.std(0), torch.ones(4, dtype=torch.float64))
    constant, = standardize(torch.ones(5, 2))
    assert torch.equal(constant, torch.zeros(5, 2, dtype=torch.float64))
    assert choose_C(x, y, C_grid=(0.01, 1.0)) in (0.01, 1.0)
    labels = torch.where(y > 0, 7, 2).long()
    table = svm_comparison({"raw": (x, x), "scaled": (x * 100, x * 100)}, labels, labels,
                           positive=7, negative=2, n_labels=[10, None], n_seeds=2, C_grid=(0.1, 1.0))
    assert len(table) == 2 * (2 + 1)
    raw, scaled = table[table.features == "raw"], table[table.features == "scaled"]
    assert np.allclose(raw.test_accuracy.values, scaled.test_accuracy.values)      # standardized
    assert np.allclose(raw.margin_over_radius.values, scaled.margin_over_radius.values)
    with pytest.raises(ValueError, match="no training"):
        svm_comparison({"raw": (x, x)}, labels, labels, positive=5, negative=6, n_labels=[10])


@pytest.mark.parametrize("call, error, words", [
    (lambda: hinge_primal_objective(torch.zeros(3), 0.0, torch.zeros(4, 2), torch.ones(4), 1.0), ValueError, "w has 3"),
    (lambda: hinge_primal_objective(torch.zeros(2), 0.0, torch.zeros(4, 2), torch.zeros(4), 1.0), ValueError, "y"),
    (lambda: hinge_primal_objective(torch.zeros(2), 0.0, torch.zeros(4, 2), torch.ones(4), -1.0), ValueError, "C"),
    (lambda: fit_svm_subgradient(torch.zeros(4, 2), torch.ones(3), 1.0), ValueError, "y"),
    (lambda: fit_svm_subgradient(torch.zeros(4, 2), torch.ones(4), 1.0, n_steps=1), ValueError, "n_steps"),
    (lambda: fit_svm_sklearn(torch.zeros(4, 2), torch.ones(4), 0), ValueError, "C"),
    (lambda: to_pm1(torch.tensor([0.5]), 1), TypeError, "labels"),
    (lambda: standardize(torch.zeros(3, 2), torch.zeros(3, 4)), ValueError, "columns"),
], ids=[
    "hinge-w-length",
    "hinge-y-not-pm1",
    "hinge-C-negative",
    "subgradient-y-length",
    "subgradient-n-steps-1",
    "sklearn-C-zero",
    "to-pm1-float-labels",
    "standardize-columns",
])
def test_svm_bad_input(call, error, words):
    with pytest.raises(error, match=words):
        call()


# --------------------------------------------------------------------- the ELBO is not convex

def small_vae(seed=0):
    torch.manual_seed(seed)
    return BernoulliVAE(input_dim=8, hidden_dim=6, latent_dim=3)


def test_flip_latent_sign_keeps_the_elbo_and_the_midpoint_switches_z_off():
    model = small_vae()
    x = torch.bernoulli(torch.full((50, 8), 0.4), generator=torch.Generator().manual_seed(1))
    flipped = flip_latent_sign(model, 1)
    mu, logvar = model.encode(x)
    mu_f, logvar_f = flipped.encode(x)
    assert torch.allclose(mu_f[:, 1], -mu[:, 1]) and torch.allclose(mu_f[:, [0, 2]], mu[:, [0, 2]])
    assert torch.allclose(logvar_f, logvar)
    z = mu + 0.7                                            # any latent point...
    z_f = z.clone()
    z_f[:, 1] = -z_f[:, 1]                                  # ...and its mirror image
    assert torch.allclose(flipped.decode(z_f), model.decode(z), atol=1e-6)
    rate, rate_f = elbo_terms(model, x).rate, elbo_terms(flipped, x).rate
    assert torch.allclose(rate, rate_f, atol=1e-6)
    middle = interpolate_models(model, flipped, 0.5)
    assert torch.allclose(middle.encode(x)[0][:, 1], torch.zeros(50), atol=1e-6)
    assert torch.allclose(middle.decoder[0].weight[:, 1], torch.zeros(6))
    for name, p in model.state_dict().items():                # model itself is untouched
        assert torch.equal(p, small_vae().state_dict()[name])


def test_interpolate_models_endpoints_and_errors():
    a, b = small_vae(0), small_vae(1)
    for t, ref in ((0.0, a), (1.0, b)):
        mixed = interpolate_models(a, b, t)
        for name, p in mixed.state_dict().items():
            assert torch.allclose(p, ref.state_dict()[name])
    with pytest.raises(ValueError, match="architecture"):
        interpolate_models(a, BernoulliVAE(input_dim=8, hidden_dim=7, latent_dim=3), 0.5)
    with pytest.raises(TypeError, match="t"):
        interpolate_models(a, b, "half")
    with pytest.raises(ValueError, match="k must"):
        flip_latent_sign(a, 3)


# --------------------------------------------------------------------------- exercise checkers

@pytest.fixture(scope="module")
def fitted_nb():
    """Unequal classes (so the prior matters) with overlapping pixel probabilities (so the
    posterior is not one-hot)."""
    g = torch.Generator().manual_seed(7)
    theta = torch.full((3, 28), 0.45)
    theta[0, :5], theta[1, 5:10], theta[2, 10:15] = 0.6, 0.6, 0.6
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate((10, 30, 60))])
    x = torch.bernoulli(theta[labels], generator=g)
    return BernoulliNaiveBayes().fit(x, labels), x


def test_check_nb_posterior(fitted_nb):
    nb, x = fitted_nb
    assert "not answered" in ex.check_nb_posterior(None, nb, x[0])
    right = nb.log_posterior(x[:1])[0].exp()
    assert ex.check_nb_posterior(right, nb, x[0]).correct
    assert ex.check_nb_posterior(right.tolist(), nb, x[0]).correct
    assert not ex.check_nb_posterior(right.roll(1), nb, x[0]).correct
    assert "log-joint" in ex.check_nb_posterior(nb.joint_log_prob(x[:1])[0], nb, x[0])
    no_prior = torch.softmax(nb.class_log_likelihood(x[:1])[0], 0)
    assert "prior" in ex.check_nb_posterior(no_prior, nb, x[0])
    assert "NaN" in ex.check_nb_posterior([float("nan")] * 3, nb, x[0])
    assert "3 numbers" in ex.check_nb_posterior([0.5, 0.5], nb, x[0])


def test_check_nb_log_odds(fitted_nb):
    nb, x = fitted_nb
    w, b = nb.log_odds(1, 2)
    assert "not answered" in ex.check_nb_log_odds(None, nb, 1, 2, x)
    assert ex.check_nb_log_odds((w, float(b)), nb, 1, 2, x).correct
    assert "sign" in ex.check_nb_log_odds((-w, float(b)), nb, 1, 2, x)
    no_prior = float(b - nb.log_prior[1] + nb.log_prior[2])
    assert "prior" in ex.check_nb_log_odds((w, no_prior), nb, 1, 2, x)
    assert not ex.check_nb_log_odds((w, float(b) + 1), nb, 1, 2, x).correct
    assert "pair" in ex.check_nb_log_odds(w, nb, 1, 2, x)


def test_check_expected_on_pixels(fitted_nb):
    nb, _ = fitted_nb
    right = nb.pixel_probs.sum(1)
    assert "not answered" in ex.check_expected_on_pixels(None, nb)
    assert ex.check_expected_on_pixels(right, nb).correct
    assert "average" in ex.check_expected_on_pixels(right / nb.pixel_probs.shape[1], nb)
    assert "close" in ex.check_expected_on_pixels(right + 1.0, nb)
    assert not ex.check_expected_on_pixels(right + 10.0, nb).correct


def test_check_signed_distance():
    w, x, b = torch.tensor([3.0, 4.0]), torch.tensor([1.0, 1.0]), -2.0     # f = 5, |w| = 5
    assert "not answered" in ex.check_signed_distance(None, w, b, x)
    assert ex.check_signed_distance(1.0, w, b, x).correct
    assert "sign" in ex.check_signed_distance(-1.0, w, b, x)
    assert "functional" in ex.check_signed_distance(5.0, w, b, x)
    assert "|w|^2" in ex.check_signed_distance(0.2, w, b, x)
    assert "one number" in ex.check_signed_distance("one", w, b, x)


def test_check_hinge_subgradient():
    x, y = two_blobs(n=30, dim=4)
    w, b, C = torch.full((4,), 0.1, dtype=torch.float64), 0.05, 0.5
    active = (y * (x @ w + b) < 1).double() * y
    g_w, g_b = w - C * active @ x, -C * float(active.sum())
    assert "not answered" in ex.check_hinge_subgradient(None, w, b, x, y, C)
    assert ex.check_hinge_subgradient((g_w, g_b), w, b, x, y, C).correct
    assert "1/2 |w|^2" in ex.check_hinge_subgradient((g_w - w, g_b), w, b, x, y, C)
    assert "factor C" in ex.check_hinge_subgradient((w - active @ x, g_b), w, b, x, y, C)
    assert "g_b" in ex.check_hinge_subgradient((g_w, g_b + 1), w, b, x, y, C)
    assert not ex.check_hinge_subgradient((g_w * 3, g_b), w, b, x, y, C).correct


def test_check_flip_cost():
    model = small_vae()
    x = torch.bernoulli(torch.full((200, 8), 0.4), generator=torch.Generator().manual_seed(2))
    middle = interpolate_models(model, flip_latent_sign(model, 0), 0.5)
    from vae_teach.objectives import elbo
    with torch.no_grad():
        cost = (-elbo(middle, x, 4, generator=torch.Generator().manual_seed(0)).mean()
                + elbo(model, x, 4, generator=torch.Generator().manual_seed(0)).mean()).item()
    assert "not answered" in ex.check_flip_cost(None, model, x, 0)
    assert ex.check_flip_cost(cost, model, x, 0).correct
    assert not ex.check_flip_cost(cost + 1.0, model, x, 0).correct
    if abs(cost) > 0.1:
        assert "sign" in ex.check_flip_cost(-cost, model, x, 0)
    assert "itself" in ex.check_flip_cost(0.0, model, x, 0) or abs(cost) < 0.05


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_standardize_leaves_its_inputs_alone(dtype):
    """It works in place on copies: a float64 input (which .double() would not copy) is unchanged."""
    gen = torch.Generator().manual_seed(0)
    train, test = torch.rand(40, 6, generator=gen, dtype=dtype), torch.rand(9, 6, generator=gen, dtype=dtype)
    train[:, 2] = 0.0                                   # a constant column keeps scale 1
    before = train.clone(), test.clone()
    z_train, z_test = standardize(train, test)
    assert torch.equal(train, before[0]) and torch.equal(test, before[1])
    mean, std = before[0].double().mean(0), before[0].double().std(0)
    std[2] = 1.0
    assert torch.allclose(z_train, (before[0].double() - mean) / std, rtol=0, atol=1e-12)
    assert torch.allclose(z_test, (before[1].double() - mean) / std, rtol=0, atol=1e-12)
