package main

import (
	"os"
	"path/filepath"
)

// defaultModelsDir is where `everify models install` puts the models and
// where every other command looks for them: $EVERIFY_MODELS, else
// $XDG_DATA_HOME/everify/models, else ~/.local/share/everify/models.
func defaultModelsDir() string {
	if d := os.Getenv("EVERIFY_MODELS"); d != "" {
		return d
	}
	return filepath.Join(dataHome(), "models")
}

// defaultDataDir is where `everify serve` keeps its SQLite database when
// neither --data-dir nor DATABASE_URL says otherwise: $EVERIFY_DATA_DIR,
// else $XDG_DATA_HOME/everify/data, else ~/.local/share/everify/data.
func defaultDataDir() string {
	if d := os.Getenv("EVERIFY_DATA_DIR"); d != "" {
		return d
	}
	return filepath.Join(dataHome(), "data")
}

func dataHome() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "everify")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "everify")
	}
	return ".everify"
}
