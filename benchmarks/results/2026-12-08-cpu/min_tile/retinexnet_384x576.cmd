python benchmarks/tiled_seams.py --model retinexnet --size 384 576 --tiles 32 48 64 96 128 192 256 --overlap 0 8 16 32 64 --threads 1 --sweep --out retinexnet_384x576.json
