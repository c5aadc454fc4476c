"""Notebook 06: the Bernoulli log-likelihood explorer, its pure computation, and the exercise
checkers, against torch.distributions and closed forms.

Widget speed (median of 20 single-control updates, alternating ``w.set(index=i)`` and
``w.set(temperature=T)``, on the shared 2-core development machine under load ~10): about 40 ms
of CPU and 110 ms wall per update.  An update pastes three colour-mapped 28x28 images into a
frame drawn once, redraws three titles (~45% of the time) and encodes one 870x280 PNG (~30%).
Timings are not asserted here.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, ContinuousBernoulli

from vae_teach.data import load_mnist
from vae_teach.exercises import bernoulli as ex
from vae_teach.models import BernoulliVAE, SourceTextVAE
from vae_teach.widgets import CourseWidget
from vae_teach.distributions import pixel_log_likelihood
from vae_teach.widgets.bernoulli import (ProbabilityMaps, explorer_numbers,
                                         likelihood_explorer, map_logits, smoothed_mean_image)


@pytest.fixture(scope="module")
def data():
    x_test, y_test = load_mnist("test", "fixed")
    maps = ProbabilityMaps(*load_mnist("train", "fixed"))
    return x_test[:50], y_test[:50], maps


@pytest.fixture(scope="module")
def widget(data):
    x, labels, maps = data
    return likelihood_explorer(x=x, labels=labels, maps=maps)


# ----------------------------------------------------------------------------- pure computation

def test_pixel_log_likelihood_matches_torch_bernoulli_including_huge_logits():
    gen = torch.Generator().manual_seed(0)
    logits = 8 * torch.randn(784, generator=gen, dtype=torch.float64)
    logits[:4] = torch.tensor([100.0, -100.0, 40.0, -40.0], dtype=torch.float64)
    x = torch.bernoulli(torch.full((784,), 0.3, dtype=torch.float64), generator=gen)
    per_pixel, total = pixel_log_likelihood(x, logits)
    reference = Bernoulli(logits=logits).log_prob(x)
    # F.softplus returns l itself beyond l = 20 (an error below e^-20 = 2e-9 nats)
    torch.testing.assert_close(per_pixel, reference, rtol=0, atol=1e-8)
    assert total == pytest.approx(float(reference.sum()), rel=1e-10)
    assert torch.isfinite(per_pixel).all()


def test_pixel_log_likelihood_float32_stays_finite_where_the_naive_formula_breaks():
    logits = torch.tensor([20.0, 20.0, -100.0])
    x = torch.tensor([1.0, 0.0, 1.0])
    per_pixel, _ = pixel_log_likelihood(x, logits)
    torch.testing.assert_close(per_pixel, torch.tensor([-2.06e-9, -20.0, -100.0]), atol=1e-6, rtol=0)


def test_pixel_log_likelihood_rejects_bad_input():
    with pytest.raises(TypeError, match="x"):
        pixel_log_likelihood([0.0, 1.0], torch.zeros(2))
    with pytest.raises(TypeError, match="logits"):
        pixel_log_likelihood(torch.zeros(2), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="same shape"):
        pixel_log_likelihood(torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError, match="x must hold"):
        pixel_log_likelihood(torch.tensor([0.0, 2.0]), torch.zeros(2))
    with pytest.raises(ValueError, match="logits"):
        pixel_log_likelihood(torch.zeros(2), torch.tensor([0.0, math.nan]))


def test_smoothed_mean_image_closed_form_and_never_0_or_1():
    x = torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    torch.testing.assert_close(smoothed_mean_image(x), torch.tensor([3 / 4, 1 / 4, 2 / 4]))
    with pytest.raises(ValueError, match="pseudocount"):
        smoothed_mean_image(x, pseudocount=0.0)


def test_probability_maps_checks_labels():
    x = torch.zeros(4, 784)
    with pytest.raises(TypeError, match="labels_train"):
        ProbabilityMaps(x, torch.zeros(4))
    with pytest.raises(ValueError, match="labels_train"):
        ProbabilityMaps(x, torch.zeros(3, dtype=torch.int64))


def test_uniform_map_costs_784_log_2_whatever_the_digit_and_temperature(data):
    x, labels, maps = data
    logits = map_logits("uniform 0.5", maps)
    for i in (0, 7, 31):
        for temperature in (0.1, 1.0, 10.0):
            numbers = explorer_numbers(x[i], logits, temperature)
            assert numbers["total_nats"] == pytest.approx(-784 * math.log(2), rel=1e-12)
            assert numbers["total_bits"] == pytest.approx(-784.0, rel=1e-12)


def test_class_mean_map_and_temperature_against_torch(data):
    x, labels, maps = data
    digit, label = x[3], int(labels[3])
    logits = map_logits("mean of the same class", maps, label=label)
    torch.testing.assert_close(torch.sigmoid(logits).float(), maps.per_class[label])
    for temperature in (0.25, 1.0, 4.0):
        numbers = explorer_numbers(digit, logits, temperature)
        reference = Bernoulli(logits=logits / temperature).log_prob(digit.double())
        assert numbers["total_nats"] == pytest.approx(float(reference.sum()), rel=1e-10)
        assert numbers["ink_nats"] + numbers["background_nats"] == pytest.approx(numbers["total_nats"])
        assert numbers["n_ink"] == int(digit.sum())
        torch.testing.assert_close(numbers["probs"], torch.sigmoid(logits / temperature))
    # its own class explains a digit better than a uniform coin and than another class
    own = explorer_numbers(digit, logits)["total_nats"]
    other = explorer_numbers(digit, map_logits("mean of another class", maps,
                                               other_class=(label + 1) % 10))["total_nats"]
    assert own > other and own > -784 * math.log(2)


def test_map_logits_rejects_bad_choices(data):
    _, _, maps = data
    with pytest.raises(ValueError, match="choice"):
        map_logits("median image", maps)
    with pytest.raises(ValueError, match="label"):
        map_logits("mean of the same class", maps, label=11)
    with pytest.raises(ValueError, match="model"):
        map_logits("VAE reconstruction", maps, x=torch.zeros(784))
    with pytest.raises(ValueError, match="temperature"):
        explorer_numbers(torch.zeros(784), torch.zeros(784), temperature=0.0)


# ------------------------------------------------------------------------------------ widget

def test_widget_default_render_and_controls_have_labels(widget):
    assert isinstance(widget, CourseWidget)
    assert widget.png.startswith(b"\x89PNG")
    assert set(widget.controls) == {"index", "choice", "other_class", "temperature"}
    assert all(control.description for control in widget.controls.values())
    assert "VAE reconstruction" not in widget.controls["choice"].options


def test_widget_moves_change_picture_and_numbers_are_right(widget, data):
    x, labels, maps = data
    widget.set(index=0, choice="mean of the same class", temperature=1.0)
    before = widget.png
    widget.set(choice="mean of another class", other_class=(int(labels[0]) + 3) % 10)
    assert widget.png != before
    logits = torch.logit(maps.per_class[(int(labels[0]) + 3) % 10].double())
    expected = float(Bernoulli(logits=logits).log_prob(x[0].double()).sum())
    assert widget.latest["total_nats"] == pytest.approx(expected, rel=1e-10)
    assert f"{expected:.2f} nats" in widget.status.value

    before = widget.png
    widget.set(temperature=0.1)
    assert widget.png != before
    expected = float(Bernoulli(logits=logits / widget.values["temperature"])
                     .log_prob(x[0].double()).sum())
    assert widget.latest["total_nats"] == pytest.approx(expected, rel=1e-10)

    before = widget.png
    widget.set(index=5)
    assert widget.png != before and widget.latest["label"] == int(labels[5])

    widget.set(choice="uniform 0.5", temperature=1.0)
    assert widget.latest["total_nats"] == pytest.approx(-784 * math.log(2))
    assert "543.43 nats" in widget.status.value


def test_widget_with_a_model_offers_reconstructions(data):
    x, labels, maps = data
    torch.manual_seed(0)
    model = BernoulliVAE(hidden_dim=32, latent_dim=2).eval()
    w = likelihood_explorer(model, x=x, labels=labels, maps=maps, choice="VAE reconstruction",
                            index=2)
    with torch.no_grad():
        logits = model.decode(model.encode(x[2:3])[0])[0].double()
    expected = float(Bernoulli(logits=logits).log_prob(x[2].double()).sum())
    assert w.latest["total_nats"] == pytest.approx(expected, rel=1e-6)
    before = w.png
    w.set(choice="mean training image")
    assert w.png != before


def test_widget_rejects_bad_arguments(data):
    x, labels, maps = data
    with pytest.raises(ValueError, match="choice"):
        likelihood_explorer(x=x, labels=labels, maps=maps, choice="VAE reconstruction")
    with pytest.raises(ValueError, match="index"):
        likelihood_explorer(x=x, labels=labels, maps=maps, index=len(x))
    with pytest.raises(ValueError, match="labels"):
        likelihood_explorer(x=x, labels=labels[:3], maps=maps)
    with pytest.raises(ValueError, match="temperature"):
        likelihood_explorer(x=x, labels=labels, maps=maps, temperature=-1.0)
    with pytest.raises(ValueError, match="other_class"):
        likelihood_explorer(x=x, labels=labels, maps=maps, other_class=12)


# -------------------------------------------------------------------- the source text's double sigmoid

def test_source_text_loss_uses_probabilities_between_one_half_and_sigmoid_one():
    torch.manual_seed(0)
    model = SourceTextVAE()
    with torch.no_grad():
        implied = torch.sigmoid(model.decoder(5 * torch.randn(64, 32)))
    assert implied.min() >= 0.5 and implied.max() <= torch.sigmoid(torch.tensor(1.0))


def test_source_pixel_floor_closed_form_on_binary_and_grey_values():
    x = torch.tensor([0.0, 1.0, 0.3, 0.6, 0.9])
    floor = ex.source_pixel_floor(x)
    h = lambda g: -(g * math.log(g) + (1 - g) * math.log(1 - g))  # noqa: E731
    expected = [math.log(2), F.softplus(torch.tensor(-1.0)).item(), math.log(2), h(0.6),
                0.9 * math.log1p(math.exp(-1)) + 0.1 * math.log1p(math.e)]
    torch.testing.assert_close(floor, torch.tensor(expected, dtype=torch.float64), atol=1e-6, rtol=0)
    # no output s in [0, 1] does better than the floor
    s = torch.linspace(0, 1, 1001, dtype=torch.float64)[:, None]
    losses = F.binary_cross_entropy_with_logits(s.expand(-1, 5), x.double().expand(1001, -1),
                                                reduction="none")
    assert (losses.min(dim=0).values >= floor - 1e-9).all()
    assert (losses.min(dim=0).values - floor).abs().max() < 1e-3


# ------------------------------------------------------------------------ exercise checkers

CHECKERS = [ex.check_log_likelihood_by_hand, ex.check_naive_overflow_logit,
            ex.check_source_grey_floor, ex.check_grey_level_mass]


@pytest.mark.parametrize("checker", CHECKERS)
def test_checkers_say_not_answered_and_explain_wrong_types(checker):
    assert "not answered yet" in checker(None)
    assert "must be one number" in checker("12")
    assert "must be one number" in checker(True)
    message = checker(-12345.0)
    assert not message.startswith("correct") and not message.correct


def test_exercise_1_checker():
    expected = math.log(0.9) + math.log(0.8) + math.log(0.6) + math.log(0.99) + math.log(0.5)
    assert ex.exercise_1_log_likelihood() == pytest.approx(expected)
    assert ex.check_log_likelihood_by_hand(expected).correct
    assert ex.check_log_likelihood_by_hand(torch.tensor(expected)).correct
    assert "sign" in ex.check_log_likelihood_by_hand(-expected)
    assert "bits" in ex.check_log_likelihood_by_hand(expected / math.log(2))
    assert repr(ex.check_log_likelihood_by_hand(expected)).startswith("correct")


def test_exercise_2_checker_agrees_with_float32():
    threshold = ex.naive_overflow_logit()
    below = torch.tensor([threshold - 1e-3])
    above = torch.tensor([threshold + 1e-3])
    assert torch.isfinite(torch.log(1 - torch.sigmoid(below))).all()
    assert torch.isinf(torch.log(1 - torch.sigmoid(above))).all()
    assert 16 < threshold < 18
    assert ex.check_naive_overflow_logit(threshold + 0.005).correct
    assert not ex.check_naive_overflow_logit(threshold + 0.3).correct
    assert "other end" in ex.check_naive_overflow_logit(-88.7)


def test_exercise_3_checker():
    grey = ex.exercise_3_grey_image().double()
    best_s = torch.logit(grey.clamp(0.5, torch.sigmoid(torch.tensor(1.0, dtype=torch.float64))))
    expected = F.binary_cross_entropy_with_logits(best_s, grey, reduction="sum").item()
    assert ex.check_source_grey_floor(expected).correct
    assert not ex.check_source_grey_floor(expected + 1.0).correct
    entropy = F.binary_cross_entropy(grey, grey, reduction="sum").item()
    assert "correct* Bernoulli" in ex.check_source_grey_floor(entropy)


def test_exercise_4_checker_against_continuous_bernoulli():
    lam = ex.EXERCISE_4_LAMBDA
    mass = ex.bernoulli_mass_on_grey_levels(lam)
    log_c = ContinuousBernoulli(probs=torch.tensor(lam, dtype=torch.float64))._cont_bern_log_norm()
    assert mass == pytest.approx(math.exp(-float(log_c)), rel=1e-9)
    g = torch.linspace(0, 1, 100001, dtype=torch.float64)
    assert mass == pytest.approx(float(torch.trapezoid(lam ** g * (1 - lam) ** (1 - g), g)), rel=1e-8)
    assert ex.check_grey_level_mass(mass).correct
    assert "pmf" in ex.check_grey_level_mass(1.0)
    assert ex.bernoulli_mass_on_grey_levels(0.5) == 0.5
    with pytest.raises(ValueError, match="lam"):
        ex.bernoulli_mass_on_grey_levels(1.0)
