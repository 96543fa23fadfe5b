"""Hardware turned into plain values and back: badge readers, card numbers, LED and buzzer, hardware id."""
