"""Where models live: a model is a folder (`folders`: written atomically, loaded with
`weights_only=True`, listed, checked against its data), and its decoder exported for the browser
(`export`)."""
