"""Export pipeline: distill, quantize and bundle Hugging Face models."""
