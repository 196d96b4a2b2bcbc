"""An example yamlcron plugin package."""
