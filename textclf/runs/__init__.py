"""The run folder, the contract between training and everything after it: its file names and
run_info.json (folder), how far an interrupted run got (progress), the prediction files (predictions),
the calibration of its probabilities (calibration) and their scores (scores), and its data files read
back (data_files). Imports textclf.data, textclf.models and the shared modules."""
