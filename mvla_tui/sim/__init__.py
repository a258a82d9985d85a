"""MuJoCo scenes of the obstacle scenarios, the scripted expert and success checks. No Textual."""
