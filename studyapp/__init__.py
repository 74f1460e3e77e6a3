"""studyapp: terminal flashcards with FSRS scheduling and a runnable experiment behind every card."""

__version__ = "0.1.0"
