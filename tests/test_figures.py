import json

import numpy as np
import pytest
import torch

from dcgan import checkpoint, cli, figures, nets

from .conftest import TINY_MODEL, argv


@pytest.fixture
def ckpt(tiny_ckpt):
    return str(tiny_ckpt)


def models(ckpt):
    v, netG, netD, _ = checkpoint.load_models(ckpt)
    return v, netG, netD


def png_size(path):
    from PIL import Image

    with Image.open(path) as im:
        return im.size


def test_a_walks_ends_are_the_chosen_z(ckpt):
    v, netG, _ = models(ckpt)
    z = figures.walk_z(v, points=4, steps=5, seed=3)
    anchors = figures.sheet_z(v, 4, 3)
    rows = z.view(3, 6, v.nz)
    for r in range(3):
        assert torch.equal(rows[r, 0], anchors[r]) and torch.allclose(rows[r, -1], anchors[r + 1])
    images = nets.render(netG, z)
    # one z, one image, whatever the batch
    assert np.array_equal(images[0], nets.render(netG, anchors[:1])[0])
    s = figures.walk_z(v, points=4, steps=5, seed=3, mode="slerp").view(3, 6, v.nz)
    assert torch.allclose(s[0, 0], anchors[0], atol=1e-6) and torch.allclose(
        s[0, -1], anchors[1], atol=1e-5
    )
    mid = s[0, 3]  # slerp keeps the norm between the ends' norms
    assert (
        min(anchors[0].norm(), anchors[1].norm()) - 1e-5
        <= mid.norm()
        <= max(anchors[0].norm(), anchors[1].norm()) + 1e-5
    )


def test_walk_command_sizes_and_determinism(ckpt, tmp_path, capsys):
    args = ["walk", "--ckpt", ckpt, "--points", "3", "--steps", "4", "--scale", "1", "--json"]
    assert cli.main(args + ["--out", str(tmp_path / "a")]) == 0
    rec = json.loads(capsys.readouterr().out)
    # 2 rows of 5 images of 32 px with 2 px padding
    assert png_size(rec["png"]) == (5 * 34 + 2, 2 * 34 + 2)
    from PIL import Image

    # 2 x 4 steps and the start: shared row ends shown once
    assert Image.open(rec["gif"]).n_frames == 9
    assert cli.main(args + ["--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / "walk-linear.png").read_bytes() == (
        tmp_path / "b" / "walk-linear.png"
    ).read_bytes()
    assert cli.main(args + ["--out", str(tmp_path / "a")]) == 1  # not empty: refused
    assert "pass --force" in capsys.readouterr().err


def test_the_centre_of_the_arithmetic_grid_is_g_of_the_arithmetic_of_the_means(ckpt):
    v, netG, _ = models(ckpt)
    sheet = figures.sheet_z(v, 20, 0)
    terms = figures.parse_expression("1,2,3 - 4,5,6 + 7,8,9")
    assert terms == [(1, [1, 2, 3]), (-1, [4, 5, 6]), (1, [7, 8, 9])]
    r = figures.arithmetic(v, sheet, terms, noise=0.25, seed=0)
    y = sheet[[1, 2, 3]].mean(0) - sheet[[4, 5, 6]].mean(0) + sheet[[7, 8, 9]].mean(0)
    assert torch.allclose(r["y"], y) and torch.equal(r["grid"][4], r["y"])
    offsets = (r["grid"] - y).abs()
    assert offsets.max() <= 0.25 and offsets[[0, 1, 2, 3, 5, 6, 7, 8]].min(1).values.gt(0).all()
    assert np.array_equal(nets.render(netG, r["grid"])[4], nets.render(netG, y[None])[0])
    with pytest.raises(Exception, match="not on the sheet"):
        figures.arithmetic(v, sheet, [(1, [25])])


def test_arithmetic_command_writes_the_sheet_concepts_result_and_turn(ckpt, tmp_path, capsys):
    out = tmp_path / "ar"
    assert (
        cli.main(
            [
                "arithmetic",
                "--ckpt",
                ckpt,
                "--out",
                str(out),
                "--n",
                "20",
                "--expr",
                "1,2,3 - 4,5,6 + 7,8,9",
                "--turn-left",
                "0,1,2,3",
                "--turn-right",
                "4,5,6,7",
                "--turn-rows",
                "8,9",
                "--steps",
                "4",
                "--scale",
                "1",
                "--json",
            ]
        )
        == 0
    )
    rec = json.loads(capsys.readouterr().out)
    assert png_size(rec["result"]) == (3 * 34 + 2, 3 * 34 + 2)
    # each concept: 3 exemplars and G(mean)
    assert png_size(rec["concepts"]) == (
        4 * 34 + 2,
        3 * 34 + 2,
    )
    assert png_size(rec["turn"]) == (5 * 34 + 2, 2 * 34 + 2)
    v, netG, _ = models(ckpt)
    z, vec = figures.turn_rows(figures.sheet_z(v, 20, 0), [0, 1, 2, 3], [4, 5, 6, 7], [8], steps=4)
    assert torch.equal(z[0], figures.sheet_z(v, 20, 0)[8]) and torch.allclose(z[-1] - z[0], vec)
    assert (
        cli.main(
            ["arithmetic", "--ckpt", ckpt, "--out", str(tmp_path / "bad"), "--expr", "a,b - c"]
        )
        == 1
    )
    assert "is not a comma-separated list" in capsys.readouterr().err


def test_guided_gate_passes_only_positive_gradients_where_the_input_was_positive():
    x = torch.tensor([-1.0, 2.0, 3.0, -4.0], requires_grad=True)
    act = figures.GuidedActivation(torch.nn.LeakyReLU(0.2))
    y = act(x)
    # the forward pass is unchanged
    assert torch.allclose(y, torch.nn.functional.leaky_relu(x.detach(), 0.2))
    y.backward(torch.tensor([5.0, -6.0, 7.0, 8.0]))
    assert x.grad.tolist() == [0.0, 0.0, 7.0, 0.0]


def test_visualise_command(ckpt, tmp_path, capsys):
    args = argv(
        "visualise --ckpt {} --dataset digits --n-images 100 --features 3 --scale 1 --json", ckpt
    )
    assert cli.main(args + ["--out", str(tmp_path / "a")]) == 0
    rec = json.loads(capsys.readouterr().out)
    # trained: images, gradients; random: images, gradients
    assert png_size(rec["png"]) == (
        3 * 34 + 2,
        4 * 34 + 2,
    )
    assert (
        rec["layer"] == "conv3"
        and len(rec["trained"]) == 3
        and len(rec["random init (seed 0)"]) == 3
    )
    assert cli.main(args + ["--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / "guided-backprop.png").read_bytes() == (
        tmp_path / "b" / "guided-backprop.png"
    ).read_bytes()
    v, _, netD = models(ckpt)
    g = figures.guided_backprop(netD, np.zeros((2, 32, 32, 3), np.uint8), 2)
    assert g["features"][0]["gradient"].shape == (32, 32, 3)


def test_dropping_no_feature_maps_changes_nothing_and_dropping_is_zeroing(ckpt):
    v, netG, _ = models(ckpt)
    z = figures.sheet_z(v, 6, 1)
    layer = figures.second_highest(netG)
    assert layer == "deconv2"  # of deconv1..3, deconv3 being the output layer
    assert np.array_equal(figures.generate_dropping(netG, z, layer, []), nets.render(netG, z))
    dropped = figures.generate_dropping(netG, z, layer, [0, 2])
    # by hand: run the layers, zero the maps, run the rest
    with torch.no_grad():
        netG.eval()
        h = netG.project(z)
        for name, block in netG.blocks.items():
            h = block(h)
            if name == layer:
                h[:, [0, 2]] = 0
    assert np.array_equal(dropped, nets.to_pixels(h))


def test_forget_command(ckpt, tmp_path, capsys):
    boxes = tmp_path / "boxes.json"
    boxes.write_text(
        json.dumps(
            [{"sample": 0, "boxes": [[0, 0, 12, 12]]}, {"sample": 3, "boxes": [[16, 16, 32, 32]]}]
        )
    )
    out = tmp_path / "f"
    assert (
        cli.main(
            argv(
                "forget --ckpt {} --boxes {} --n 10 --show 4 --out {} --scale 1 --json",
                ckpt,
                boxes,
                out,
            )
        )
        == 0
    )
    rec = json.loads(capsys.readouterr().out)
    assert png_size(rec["png"]) == (4 * 34 + 2, 2 * 34 + 2)
    assert rec["layer"] == "deconv2" and rec["n_positive"] > 0 and rec["n_negative"] > 0
    assert all(0 <= c < rec["n_feature_maps"] for c in rec["dropped"])
    boxes.write_text(json.dumps({"sample": 0}))
    assert (
        cli.main(["forget", "--ckpt", ckpt, "--boxes", str(boxes), "--out", str(tmp_path / "g")])
        == 1
    )
    assert "expected a non-empty list" in capsys.readouterr().err


def test_frozen_batch_statistics_draw_the_sheet_as_batch_sampling_did(ckpt):
    v, netG, _ = models(ckpt)
    sheet = figures.sheet_z(v, 50, 0)
    as_batch = nets.generate(netG, sheet, "batch")
    frozen = figures.freeze_batch_stats(netG, sheet)
    torch.testing.assert_close(nets.generate(frozen, sheet), as_batch, atol=1e-5, rtol=1e-4)
    # and one z of the sheet alone gives its sheet image (batch sampling of one z could not)
    torch.testing.assert_close(
        nets.generate(frozen, sheet[7:8])[0], as_batch[7], atol=1e-5, rtol=1e-4
    )


def test_sample_sheets_after_chosen_epochs(tmp_path):
    from PIL import Image

    out = tmp_path / "run"
    # digits/train has 1500 images: 46 steps of 32 per epoch
    assert (
        cli.main(
            argv(
                "train {*} --steps 100 --sheet-epochs 1,2,5 --sample-n 16 --out {} --device cpu"
                " --no-progress",
                TINY_MODEL,
                out,
            )
        )
        == 0
    )
    # epoch 5 not reached
    assert sorted(p.name for p in out.glob("sheet-epoch-*.png")) == [
        "sheet-epoch-001.png",
        "sheet-epoch-002.png",
    ]
    assert (
        Image.open(out / "sheet-epoch-001.png").size
        == Image.open(out / "samples-00000100.png").size
    )
    assert (out / "sheet-epoch-001.png").read_bytes() != (out / "sheet-epoch-002.png").read_bytes()
