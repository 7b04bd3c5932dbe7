"""Tests of the digital twin (sim/)."""
