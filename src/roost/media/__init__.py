"""Media of the Bird face (seed 004): presigned uploads kept on a storage, and the files attachments name."""
