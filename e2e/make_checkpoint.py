"""Build a tiny random-weight checkpoint that ComfyUI 0.3.75 detects as SD1.5.

Run with the e2e venv's python (it needs torch, safetensors and ComfyUI's own modules):

    .cache/e2e/venv/bin/python e2e/make_checkpoint.py --comfyui .cache/e2e/ComfyUI \
        --out .cache/e2e/ComfyUI/models/checkpoints/tiny-sd15.safetensors

The checkpoint holds:
- ``model.diffusion_model.*``: an SD1.5-shaped UNet cut down to one level
  (model_channels 320, channel_mult [1], one res block, one transformer block per level,
  a middle block of one res block and no attention);
- ``cond_stage_model.transformer.*``: the full SD1 CLIP text model (ComfyUI's fixed config);
- ``first_stage_model.*``: TAESD with 4 latent channels as the VAE.

Weights are normal(0, 0.02), biases 0, stored as fp16, drawn from a fixed seed, so the file is
the same on every run. The images it makes are noise: it exists to exercise the protocol.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from setup_comfyui import sha256_of  # this script runs from e2e/, next to it

UNET_CONFIG: dict = {
    # What comfy.model_detection.detect_unet_config reads back from the keys.
    "use_checkpoint": False,
    "image_size": 32,
    "use_spatial_transformer": True,
    "legacy": False,
    "adm_in_channels": None,
    "in_channels": 4,
    "out_channels": 4,
    "model_channels": 320,
    "num_res_blocks": [1],
    "transformer_depth": [1],
    "transformer_depth_output": [1, 1],
    "channel_mult": [1],
    "transformer_depth_middle": -1,
    "use_linear_in_transformer": False,
    "context_dim": 768,
    # SD15.unet_extra_config
    "num_heads": 8,
    "num_head_channels": -1,
}

WEIGHT_STD = 0.02
# Scalars that are not layer weights: keep them neutral instead of random.
FIXED_VALUES = {
    "first_stage_model.vae_scale": 1.0,
    "first_stage_model.vae_shift": 0.0,
}

log = logging.getLogger("make_checkpoint")


def import_comfy(comfyui_dir: Path) -> None:
    """Put ComfyUI on sys.path and make its argument parser see --cpu before any comfy import."""
    sys.path.insert(0, str(comfyui_dir.resolve()))
    saved_argv = sys.argv
    sys.argv = [saved_argv[0], "--cpu"]
    try:
        import comfy.options

        comfy.options.enable_args_parsing()
        import comfy.cli_args  # parses sys.argv, i.e. --cpu, now
        import comfy.model_management  # picks the device at import time
    finally:
        sys.argv = saved_argv


def build_modules():
    import comfy.ops
    import comfy.sd1_clip
    import comfy.taesd.taesd
    import torch
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    unet = UNetModel(
        **UNET_CONFIG,
        dtype=torch.float32,
        device="cpu",
        operations=comfy.ops.disable_weight_init,
    )
    clip = comfy.sd1_clip.SDClipModel(device="cpu", dtype=torch.float32)
    taesd = comfy.taesd.taesd.TAESD(latent_channels=4)
    return {
        "model.diffusion_model.": unet,
        "cond_stage_model.": clip,
        "first_stage_model.": taesd,
    }


def random_state_dict(modules: dict, seed: int) -> dict:
    """Fill every floating tensor: normal(0, 0.02) for weights, 0 for biases; return fp16 copies."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    state: dict = {}
    for prefix, module in modules.items():
        # Sorted so the draw order (and thus the file) does not depend on dict order.
        for name, tensor in sorted(module.state_dict(keep_vars=False).items()):
            key = prefix + name
            state[key] = fill_tensor(key, tensor, generator)
    return state


def fill_tensor(key: str, tensor, generator):
    import torch

    if not tensor.is_floating_point():
        return tensor.clone().contiguous()
    if key in FIXED_VALUES:
        out = torch.full(tensor.shape, FIXED_VALUES[key], dtype=torch.float32)
    elif key.endswith("bias"):
        out = torch.zeros(tensor.shape, dtype=torch.float32)
    else:
        out = torch.empty(tensor.shape, dtype=torch.float32).normal_(0.0, WEIGHT_STD, generator=generator)
    return out.to(torch.float16).contiguous()


def check_detection(state: dict) -> str:
    """Return the model class ComfyUI picks for these keys; raise unless it is SD15."""
    import comfy.model_detection
    import comfy.supported_models

    prefix = comfy.model_detection.unet_prefix_from_state_dict(state)
    config = comfy.model_detection.model_config_from_unet(state, prefix)
    name = type(config).__name__ if config is not None else "None"
    if type(config) is not comfy.supported_models.SD15:
        raise SystemExit(f"ComfyUI detects this checkpoint as {name}, not SD15")
    return name


def check_load(path: Path) -> None:
    """Load the file the way CheckpointLoaderSimple does; raise on missing or unexpected keys."""
    import comfy.sd

    model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(str(path), output_vae=True, output_clip=True)
    if model is None or clip is None or vae is None:
        raise SystemExit(f"load_checkpoint_guess_config returned model={model} clip={clip} vae={vae}")
    vae_name = type(vae.first_stage_model).__name__
    if vae_name != "TAESD":
        raise SystemExit(f"VAE was built as {vae_name}, expected TAESD")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comfyui", type=Path, required=True, help="ComfyUI folder (holds main.py)")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint file to write")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--skip-load-check", action="store_true", help="skip the full load test")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    started = time.monotonic()
    import_comfy(args.comfyui)
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(args.seed)
    modules = build_modules()
    state = random_state_dict(modules, args.seed)
    del modules
    detected = check_detection(state)
    n_params = sum(t.numel() for t in state.values())
    log.info("detected as %s; %d tensors, %.1f M values", detected, len(state), n_params / 1e6)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Written outside the checkpoints folder first (ComfyUI lists that folder), keeping the
    # .safetensors suffix that comfy.utils.load_torch_file dispatches on.
    tmp_dir = args.out.parent.parent / ".make_checkpoint.tmp"
    tmp_dir.mkdir(exist_ok=True)
    tmp = tmp_dir / args.out.name
    # One metadata entry only: safetensors writes several in random order (the file would differ).
    save_file(state, str(tmp), metadata={"format": "pt"})
    del state
    if not args.skip_load_check:
        check_load(tmp)
        log.info("load check passed (CheckpointLoaderSimple path)")
    tmp.replace(args.out)
    tmp_dir.rmdir()
    size_mb = args.out.stat().st_size / 1e6
    log.info(
        "wrote %s (%.1f MB, sha256 %s) in %.1f s", args.out, size_mb, sha256_of(args.out), time.monotonic() - started
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
