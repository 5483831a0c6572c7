"""Skip-gram pre-training of word and item vectors aligned with the model's embedding tables.

`mtrec pretrain --kind words|items` trains them; `mtrec train --set
model.init_embeddings=DIR` warm-starts the multi-task model from them.
"""
