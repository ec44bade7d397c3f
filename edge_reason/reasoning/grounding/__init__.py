"""Grounded checks: a chain judged against its question and story, not only step by step.

* entities.py: what a story question is about; a question about something the story never
  mentions has no answer, and cited lines must concern what is asked;
* scratchpad.py: an addition's scratchpad and answer against the ones its operands give;
* story.py: a story's lines by id, in the story's order.

The verifier (verifier.py) runs them with its other checkers.
"""
