"""Small computations behind the web playground: token views, pooling side by side, a 2-D InfoNCE toy, rankings.

They explain the field on a real model; the server's playground router only turns them into HTTP.
"""
