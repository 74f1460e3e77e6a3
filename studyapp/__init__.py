"""studyapp: terminal flashcards, scheduled with FSRS, with a runnable experiment behind each."""

__version__ = "0.1.0"
