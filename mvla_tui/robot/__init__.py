"""Robot links (ROS 2, MuJoCo sim, fake), cameras, the control loop and its safety rules. No Textual."""
