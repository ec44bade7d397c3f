"""Training recipes: data preparation, teacher, distilled student and bundle, one command each."""
