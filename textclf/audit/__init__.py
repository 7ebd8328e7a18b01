"""Auditing a prepared data folder: the checks (checks), suspected label errors found with cleanlab on
out-of-fold probabilities (label_issues), and a cleaned training split (cleaning, CLEAN= in the task
scripts). Trains models to do it, so it imports textclf.training and the stages before it."""
