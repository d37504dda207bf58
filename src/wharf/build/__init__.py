"""The Dockerfile front end: parsing, variable expansion, build contexts and
the instruction semantics that change an image's config without running
anything. The evaluator that runs RUN steps in containers sits on top.
"""
