"""The `elu-twins` command and the embedded runner that puts every service in one process."""
