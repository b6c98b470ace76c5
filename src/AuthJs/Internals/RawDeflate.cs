namespace SessionCache.AuthJs.Internals;

/// <summary>
/// Raw DEFLATE (RFC 1951) inflated as zlib inflates it for jose's <c>"zip":"DEF"</c>: jose 4 through
/// node:zlib's <c>inflateRaw</c> with <c>maxOutputLength</c>, jose 6 through
/// <c>DecompressionStream("deflate-raw")</c> with <c>maxDecompressedLength</c>. The stream must end
/// with its final block (bytes after it are ignored; input that runs out first is refused, which
/// <see cref="System.IO.Compression.DeflateStream"/> does not do), every code set, length and
/// distance zlib refuses is refused, and no byte is written past the limit: inflating costs time
/// and memory bounded by the input and the limit, whatever the input.
/// </summary>
internal static class RawDeflate
{
    private const int MaxBits = 15;

    // zlib's limits on a dynamic block's code counts (inflate.c: "too many length or distance symbols").
    private const int MaxLiteralCodes = 286;
    private const int MaxDistanceCodes = 30;

    private static readonly HuffmanTable FixedLiterals = HuffmanTable.Fixed(288, static s => s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8);

    // 32 codes of 5 bits; 30 and 31 are in the code but are no distance.
    private static readonly HuffmanTable FixedDistances = HuffmanTable.Fixed(32, static _ => 5);

    private enum Status
    {
        Done,
        Invalid,
        TooLarge,
    }

    private static ReadOnlySpan<short> LengthBase => [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];

    private static ReadOnlySpan<byte> LengthExtra => [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];

    private static ReadOnlySpan<short> DistanceBase => [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];

    private static ReadOnlySpan<byte> DistanceExtra => [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];

    private static ReadOnlySpan<byte> CodeLengthOrder => [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

    /// <summary>The inflated bytes, or <see langword="null"/> when zlib would refuse the stream or it inflates past <paramref name="limit"/> bytes.</summary>
    public static byte[]? Inflate(ReadOnlySpan<byte> input, int limit)
    {
        var inflater = new Inflater(input, limit);
        return inflater.Run() == Status.Done ? inflater.Output() : null;
    }

    /// <summary>
    /// Counts the codes of each length and sorts the symbols by code (RFC 1951 3.2.2, as zlib's
    /// inflate_table). Returns the codes left unused: negative for an over-subscribed set.
    /// </summary>
    private static int Build(Span<short> count, Span<short> symbols, ReadOnlySpan<byte> lengths, out int maxLength)
    {
        count.Clear();
        foreach (var length in lengths)
        {
            count[length]++;
        }

        maxLength = MaxBits;
        while (maxLength > 0 && count[maxLength] == 0)
        {
            maxLength--;
        }

        var left = 1;
        for (var length = 1; length <= MaxBits; length++)
        {
            left = (left << 1) - count[length];
            if (left < 0)
            {
                return left;
            }
        }

        Span<short> offsets = stackalloc short[MaxBits + 1];
        offsets.Clear();
        for (var length = 1; length < MaxBits; length++)
        {
            offsets[length + 1] = (short)(offsets[length] + count[length]);
        }

        for (var symbol = 0; symbol < lengths.Length; symbol++)
        {
            if (lengths[symbol] != 0)
            {
                symbols[offsets[lengths[symbol]]++] = (short)symbol;
            }
        }

        return left;
    }

    /// <summary>
    /// zlib's inflate_table: an over-subscribed set is refused; an incomplete one too, unless it is a
    /// literal/length or distance code whose codes are all one bit long (a lone code of one bit) or
    /// that has no codes at all: reading a code it leaves unused is refused then.
    /// </summary>
    private static bool Acceptable(int left, int maxLength, bool codeLengthCode)
    {
        if (left < 0)
        {
            return false;
        }

        // zlib takes a code-length code without codes, but then reads every length as 0, and a
        // block without an end-of-block code is refused: the same verdict, earlier.
        if (maxLength == 0)
        {
            return !codeLengthCode;
        }

        return left == 0 || (!codeLengthCode && maxLength == 1);
    }

    private sealed class HuffmanTable(short[] count, short[] symbols)
    {
        public short[] Count { get; } = count;

        public short[] Symbols { get; } = symbols;

        public static HuffmanTable Fixed(int symbols, Func<int, int> length)
        {
            var lengths = new byte[symbols];
            for (var symbol = 0; symbol < symbols; symbol++)
            {
                lengths[symbol] = (byte)length(symbol);
            }

            var table = new HuffmanTable(new short[MaxBits + 1], new short[symbols]);
            Build(table.Count, table.Symbols, lengths, out _);
            return table;
        }
    }

    private ref struct Inflater(ReadOnlySpan<byte> input, int limit)
    {
        private readonly ReadOnlySpan<byte> _input = input;
        private readonly int _limit = limit;
        private int _position;
        private uint _bitBuffer;
        private int _bitCount;
        private byte[] _output = new byte[(int)Math.Min(limit, Math.Max(256L, input.Length * 4L))];
        private int _length;

        public readonly byte[] Output() => _output.AsSpan(0, _length).ToArray();

        public Status Run()
        {
            int last;
            do
            {
                if (!TryBits(1, out last) || !TryBits(2, out var type))
                {
                    return Status.Invalid;
                }

                var status = type switch
                {
                    0 => Stored(),
                    1 => Codes(FixedLiterals.Count, FixedLiterals.Symbols, FixedDistances.Count, FixedDistances.Symbols),
                    2 => Dynamic(),
                    _ => Status.Invalid,
                };
                if (status != Status.Done)
                {
                    return status;
                }
            }
            while (last == 0);

            return Status.Done;
        }

        private Status Stored()
        {
            // To the next byte boundary: fewer than 8 bits are ever buffered.
            _bitBuffer = 0;
            _bitCount = 0;
            if (_input.Length - _position < 4)
            {
                return Status.Invalid;
            }

            var length = _input[_position] | (_input[_position + 1] << 8);
            var complement = _input[_position + 2] | (_input[_position + 3] << 8);
            _position += 4;
            if (length != (~complement & 0xffff) || _input.Length - _position < length)
            {
                return Status.Invalid;
            }

            if (!Reserve(length))
            {
                return Status.TooLarge;
            }

            _input.Slice(_position, length).CopyTo(_output.AsSpan(_length));
            _position += length;
            _length += length;
            return Status.Done;
        }

        private Status Dynamic()
        {
            if (!TryBits(5, out var literalCodes) || !TryBits(5, out var distanceCodes) || !TryBits(4, out var codeLengthCodes))
            {
                return Status.Invalid;
            }

            literalCodes += 257;
            distanceCodes += 1;
            codeLengthCodes += 4;
            if (literalCodes > MaxLiteralCodes || distanceCodes > MaxDistanceCodes)
            {
                return Status.Invalid;
            }

            Span<byte> codeLengths = stackalloc byte[19];
            codeLengths.Clear();
            for (var i = 0; i < codeLengthCodes; i++)
            {
                if (!TryBits(3, out var length))
                {
                    return Status.Invalid;
                }

                codeLengths[CodeLengthOrder[i]] = (byte)length;
            }

            Span<short> count = stackalloc short[MaxBits + 1];
            Span<short> symbols = stackalloc short[19];
            var left = Build(count, symbols, codeLengths, out var maxLength);
            if (!Acceptable(left, maxLength, codeLengthCode: true))
            {
                return Status.Invalid;
            }

            var total = literalCodes + distanceCodes;
            Span<byte> lengths = stackalloc byte[MaxLiteralCodes + MaxDistanceCodes];
            lengths.Clear();
            var have = 0;
            while (have < total)
            {
                if (!TryDecode(count, symbols, out var symbol))
                {
                    return Status.Invalid;
                }

                if (symbol < 16)
                {
                    lengths[have++] = (byte)symbol;
                    continue;
                }

                byte repeated = 0;
                int times;
                if (symbol == 16)
                {
                    if (have == 0 || !TryBits(2, out times))
                    {
                        return Status.Invalid;
                    }

                    repeated = lengths[have - 1];
                    times += 3;
                }
                else if (!TryBits(symbol == 17 ? 3 : 7, out times))
                {
                    return Status.Invalid;
                }
                else
                {
                    times += symbol == 17 ? 3 : 11;
                }

                if (have + times > total)
                {
                    return Status.Invalid;
                }

                lengths.Slice(have, times).Fill(repeated);
                have += times;
            }

            // "invalid code -- missing end-of-block"
            if (lengths[256] == 0)
            {
                return Status.Invalid;
            }

            Span<short> literalCount = stackalloc short[MaxBits + 1];
            Span<short> literalSymbols = stackalloc short[MaxLiteralCodes];
            Span<short> distanceCount = stackalloc short[MaxBits + 1];
            Span<short> distanceSymbols = stackalloc short[MaxDistanceCodes];
            left = Build(literalCount, literalSymbols, lengths[..literalCodes], out maxLength);
            if (!Acceptable(left, maxLength, codeLengthCode: false))
            {
                return Status.Invalid;
            }

            left = Build(distanceCount, distanceSymbols, lengths.Slice(literalCodes, distanceCodes), out maxLength);
            return Acceptable(left, maxLength, codeLengthCode: false)
                ? Codes(literalCount, literalSymbols, distanceCount, distanceSymbols)
                : Status.Invalid;
        }

        private Status Codes(scoped ReadOnlySpan<short> literalCount, scoped ReadOnlySpan<short> literalSymbols, scoped ReadOnlySpan<short> distanceCount, scoped ReadOnlySpan<short> distanceSymbols)
        {
            while (true)
            {
                if (!TryDecode(literalCount, literalSymbols, out var symbol))
                {
                    return Status.Invalid;
                }

                if (symbol < 256)
                {
                    if (!Reserve(1))
                    {
                        return Status.TooLarge;
                    }

                    _output[_length++] = (byte)symbol;
                    continue;
                }

                if (symbol == 256)
                {
                    return Status.Done;
                }

                // 286 and 287 have fixed codes but are no length.
                symbol -= 257;
                if (symbol >= LengthBase.Length || !TryBits(LengthExtra[symbol], out var extra))
                {
                    return Status.Invalid;
                }

                var length = LengthBase[symbol] + extra;
                if (!TryDecode(distanceCount, distanceSymbols, out var code) || code >= DistanceBase.Length || !TryBits(DistanceExtra[code], out extra))
                {
                    return Status.Invalid;
                }

                // "invalid distance too far back": no preset dictionary, and the window holds 32 KiB.
                var distance = DistanceBase[code] + extra;
                if (distance > _length)
                {
                    return Status.Invalid;
                }

                if (!Reserve(length))
                {
                    return Status.TooLarge;
                }

                // Byte by byte: a copy may overlap the bytes it writes.
                for (var i = 0; i < length; i++, _length++)
                {
                    _output[_length] = _output[_length - distance];
                }
            }
        }

        /// <summary>Room for <paramref name="count"/> more bytes, or <see langword="false"/> past the limit.</summary>
        private bool Reserve(int count)
        {
            if (count > _limit - _length)
            {
                return false;
            }

            if (_length + count > _output.Length)
            {
                var grown = new byte[(int)Math.Min(_limit, Math.Max((long)_output.Length * 2, _length + count))];
                _output.AsSpan(0, _length).CopyTo(grown);
                _output = grown;
            }

            return true;
        }

        private bool TryBits(int need, out int value)
        {
            while (_bitCount < need)
            {
                if (_position == _input.Length)
                {
                    value = 0;
                    return false;
                }

                _bitBuffer |= (uint)_input[_position++] << _bitCount;
                _bitCount += 8;
            }

            value = (int)(_bitBuffer & ((1u << need) - 1));
            _bitBuffer >>= need;
            _bitCount -= need;
            return true;
        }

        /// <summary>One symbol, read a bit at a time (as puff does); a code the set leaves unused is refused.</summary>
        private bool TryDecode(scoped ReadOnlySpan<short> count, scoped ReadOnlySpan<short> symbols, out int symbol)
        {
            int code = 0, first = 0, index = 0;
            for (var length = 1; length <= MaxBits; length++)
            {
                if (!TryBits(1, out var bit))
                {
                    break;
                }

                code |= bit;
                int n = count[length];
                if (code - n < first)
                {
                    symbol = symbols[index + (code - first)];
                    return true;
                }

                index += n;
                first = (first + n) << 1;
                code <<= 1;
            }

            symbol = 0;
            return false;
        }
    }
}
