"""The chatbot: NLU training data, the NLU engines, self-service flows and reply texts."""
