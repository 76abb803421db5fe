"""`emomv-train`: reproduce the EmoMV paper's benchmarks and train the model the app ships."""
