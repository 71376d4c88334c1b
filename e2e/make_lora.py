"""Build a tiny random LoRA for the tiny checkpoint (e2e/make_checkpoint.py), in the kohya format ComfyUI loads.

Run with the e2e venv's python after the checkpoint exists (setup_comfyui.py's fourth step does):

    .cache/e2e/venv/bin/python e2e/make_lora.py --comfyui .cache/e2e/ComfyUI \
        --checkpoint .cache/e2e/ComfyUI/models/checkpoints/tiny-sd15.safetensors \
        --out .cache/e2e/ComfyUI/models/loras/tiny-lora.safetensors

It patches every attention projection of the checkpoint's UNet and the q/k/v/out projections of CLIP's
first layers: for each, `lora_up` (out x rank) and `lora_down` (rank x in), normal(0, 0.02) from a fixed seed,
and `alpha` = rank, stored as fp16. The keys are those ComfyUI's own key map gives for the checkpoint's layers
(comfy.lora.model_lora_keys_unet/clip), and the build fails unless ComfyUI maps every one of them back, so the
LoraLoader applies all of it. Like the checkpoint, what it does to an image is noise: it exists to be loaded.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from make_checkpoint import import_comfy  # this script runs from e2e/, next to it
from setup_comfyui import sha256_of

RANK = 4
WEIGHT_STD = 0.02
CLIP_LAYERS = 2  # CLIP text layers patched (of 12)
UNET_PARTS = ("attn1_to_q", "attn1_to_k", "attn1_to_v", "attn1_to_out_0", "attn2_to_q", "attn2_to_k", "attn2_to_v")
CLIP_PARTS = ("self_attn_q_proj", "self_attn_k_proj", "self_attn_v_proj", "self_attn_out_proj")

log = logging.getLogger("make_lora")


def chosen_keys(key_map: dict, weights: dict) -> dict[str, str]:
    """LoRA key -> the model weight it patches: kohya names of 2-D (linear) weights, one LoRA key per weight."""
    chosen: dict[str, str] = {}
    for lora_key, weight_key in sorted(key_map.items()):
        if not isinstance(weight_key, str) or weight_key not in weights or weights[weight_key].dim() != 2:
            continue
        unet = lora_key.startswith("lora_unet_") and lora_key.endswith(UNET_PARTS)
        clip = any(
            lora_key == f"lora_te_text_model_encoder_layers_{i}_{p}" for i in range(CLIP_LAYERS) for p in CLIP_PARTS
        )
        if (unet or clip) and weight_key not in chosen.values():
            chosen[lora_key] = weight_key
    return chosen


def build(chosen: dict[str, str], weights: dict, seed: int) -> dict:
    import torch

    generator = torch.Generator().manual_seed(seed)
    state: dict = {}
    for lora_key, weight_key in sorted(chosen.items()):
        out_features, in_features = weights[weight_key].shape
        up = torch.empty(out_features, RANK).normal_(0.0, WEIGHT_STD, generator=generator)
        down = torch.empty(RANK, in_features).normal_(0.0, WEIGHT_STD, generator=generator)
        state[f"{lora_key}.lora_up.weight"] = up.to(torch.float16).contiguous()
        state[f"{lora_key}.lora_down.weight"] = down.to(torch.float16).contiguous()
        state[f"{lora_key}.alpha"] = torch.tensor(float(RANK), dtype=torch.float16)
    return state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comfyui", type=Path, required=True, help="ComfyUI folder (holds main.py)")
    parser.add_argument("--checkpoint", type=Path, required=True, help="the tiny checkpoint it is made for")
    parser.add_argument("--out", type=Path, required=True, help="LoRA file to write")
    parser.add_argument("--seed", type=int, default=4321)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.monotonic()
    import_comfy(args.comfyui)
    import comfy.lora
    import comfy.sd
    import comfy.utils
    from safetensors.torch import save_file

    model, clip, _, _ = comfy.sd.load_checkpoint_guess_config(str(args.checkpoint), output_vae=False)
    key_map = comfy.lora.model_lora_keys_unet(model.model, {})
    key_map = comfy.lora.model_lora_keys_clip(clip.cond_stage_model, key_map)
    weights = {**model.model.state_dict(), **clip.cond_stage_model.state_dict()}
    chosen = chosen_keys(key_map, weights)
    unet = sum(1 for key in chosen if key.startswith("lora_unet_"))
    if unet == 0 or unet == len(chosen):
        raise SystemExit(f"expected UNet and CLIP layers to patch, found {unet} UNet of {len(chosen)}")
    state = build(chosen, weights, args.seed)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = args.out.parent.parent / ".make_lora.tmp"  # outside loras/, which ComfyUI lists
    tmp_dir.mkdir(exist_ok=True)
    tmp = tmp_dir / args.out.name
    save_file(state, str(tmp), metadata={"format": "pt"})
    loaded = comfy.lora.load_lora(comfy.utils.load_torch_file(str(tmp)), key_map)
    if len(loaded) != len(chosen):
        raise SystemExit(f"ComfyUI maps {len(loaded)} of the {len(chosen)} patched layers back")
    patched_model, patched_clip = comfy.sd.load_lora_for_models(
        model, clip, comfy.utils.load_torch_file(str(tmp)), 1.0, 1.0
    )
    if len(patched_model.patches) != unet or len(patched_clip.patcher.patches) != len(chosen) - unet:
        raise SystemExit("the LoRA did not patch every layer it names")
    tmp.replace(args.out)
    tmp_dir.rmdir()
    log.info(
        "wrote %s: %d layers (%d UNet, %d CLIP), rank %d, %.2f MB, sha256 %s, in %.1f s",
        args.out,
        len(chosen),
        unet,
        len(chosen) - unet,
        RANK,
        args.out.stat().st_size / 1e6,
        sha256_of(args.out),
        time.monotonic() - started,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
