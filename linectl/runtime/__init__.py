"""The line runtime: pack pipeline, PackML line state, crash recovery, control interface."""
