package io.spillway.models.grammar;

/** GPT-2's reversible mapping of bytes to printable characters, which byte-level BPE vocabularies are written in. */
public final class ByteLevelAlphabet {

    private ByteLevelAlphabet() {
    }

    /** Byte to the character that stands for it in a vocabulary. */
    public static int[] encoding() {
        int[] toChar = new int[256];
        int next = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            toChar[b] = printable ? b : 256 + next++;
        }
        return toChar;
    }

    /** Character to byte, -1 for characters that stand for no byte. */
    static int[] decoding() {
        int[] toChar = encoding();
        int[] fromChar = new int[512];
        java.util.Arrays.fill(fromChar, -1);
        for (int b = 0; b < 256; b++) {
            fromChar[toChar[b]] = b;
        }
        return fromChar;
    }

    /** The bytes a vocabulary entry stands for, or null when it holds a character outside the alphabet. */
    static byte[] decode(String piece, int[] fromChar) {
        byte[] out = new byte[piece.length()];
        for (int i = 0; i < piece.length(); i++) {
            char c = piece.charAt(i);
            if (c >= fromChar.length || fromChar[c] < 0) {
                return null;
            }
            out[i] = (byte) fromChar[c];
        }
        return out;
    }
}
