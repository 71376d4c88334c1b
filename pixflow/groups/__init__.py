"""Side-by-side comparisons: a `compare` request makes a group of jobs (models x seeds) and, once every job of the
group has ended, a contact sheet of their first images (docs/protocol.md, "compare")."""
