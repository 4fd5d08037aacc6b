"""Example merchants that carbonc runs its scenarios against."""
