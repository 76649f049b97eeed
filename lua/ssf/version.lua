-- The one place the Lua side states its version (CMakeLists.txt states the
-- same for the C side; a test keeps them equal).
return "0.1.0"
