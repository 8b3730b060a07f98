python benchmarks/tiled_seams.py --tiles 32 48 64 96 128 192 256 --overlap 0 8 16 32 64 --threads 1 --sweep --model cidnet --size 256 384 --out cidnet_256x384.json
