"""Which ComfyUI node types move a job to which stage."""

from __future__ import annotations

from pixflow.vocabulary import JobState

# class_type -> stage. A workflow can extend or override this with its own `stages:` map.
# Node types not listed here (EmptyLatentImage, LatentUpscale, ...) leave the stage unchanged.
DEFAULT_STAGE_OF_NODE: dict[str, JobState] = {
    "CheckpointLoaderSimple": JobState.LOADING,
    "CheckpointLoader": JobState.LOADING,
    "unCLIPCheckpointLoader": JobState.LOADING,
    "UNETLoader": JobState.LOADING,
    "CLIPLoader": JobState.LOADING,
    "DualCLIPLoader": JobState.LOADING,
    "TripleCLIPLoader": JobState.LOADING,
    "VAELoader": JobState.LOADING,
    "LoraLoader": JobState.LOADING,
    "LoraLoaderModelOnly": JobState.LOADING,
    "ControlNetLoader": JobState.LOADING,
    "UpscaleModelLoader": JobState.LOADING,
    "CLIPTextEncode": JobState.ENCODING,
    "CLIPTextEncodeSDXL": JobState.ENCODING,
    "CLIPTextEncodeSDXLRefiner": JobState.ENCODING,
    "CLIPTextEncodeFlux": JobState.ENCODING,
    "VAEEncode": JobState.ENCODING,
    "VAEEncodeTiled": JobState.ENCODING,
    "VAEEncodeForInpaint": JobState.ENCODING,
    "KSampler": JobState.SAMPLING,
    "KSamplerAdvanced": JobState.SAMPLING,
    "SamplerCustom": JobState.SAMPLING,
    "SamplerCustomAdvanced": JobState.SAMPLING,
    "VAEDecode": JobState.DECODING,
    "VAEDecodeTiled": JobState.DECODING,
    "SaveImage": JobState.SAVING,
    "PreviewImage": JobState.SAVING,
    "SaveAnimatedWEBP": JobState.SAVING,
    "SaveAnimatedPNG": JobState.SAVING,
    "SaveLatent": JobState.SAVING,
}


def stage_for(class_type: str, overrides: dict[str, JobState] | None = None) -> JobState | None:
    """The stage a node of this type puts a job in, or None when it does not move the job."""
    if overrides and class_type in overrides:
        return overrides[class_type]
    return DEFAULT_STAGE_OF_NODE.get(class_type)
